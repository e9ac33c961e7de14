//! Section placeholder: being written.
