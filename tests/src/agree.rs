//! A config model using only rules JSON Schema can express (no cross-field validators, no bounds
//! on unit-suffixed strings), for the agreement test: on it, the mapper and a JSON Schema
//! validator given the generated schema must reach the same verdict on every document.

use std::collections::BTreeMap;
use std::net::IpAddr;

use schema_core::{
    AddrPort, Auto, DomainName, Duration, InterfacePort, IpAddrExact, IpNet, OneOrMany, Port, Schema, Size,
};

/// Top level of the agreement model.
#[derive(Schema, Debug, Clone, PartialEq)]
pub struct Agree {
    #[schema(default = "auto")]
    pub workers: Auto<u16>,
    #[schema(max_len = 8, pattern = "^[a-z]+$")]
    pub name: Option<String>,
    #[schema(default = true)]
    pub enabled: bool,
    #[schema(default = 0.5, min = 0.0, max = 1.0)]
    pub ratio: f64,
    #[schema(default = 10, min = 1, max = 64)]
    pub level: u8,
    #[schema(default = "1M")]
    pub size: Size,
    #[schema(default = "1s")]
    pub timeout: Duration,
    #[schema(default = "a")]
    pub mode: Mode,
    #[schema(default, max_items = 2)]
    pub listen: Vec<Listen>,
    #[schema(max_items = 3)]
    pub nets: Option<Vec<IpNet>>,
    #[schema(default)]
    pub names: BTreeMap<String, Vec<IpAddr>>,
    pub upstream: Option<Upstream>,
    pub domain: Option<DomainName>,
    pub iface: Option<InterfacePort>,
    pub exact: Option<IpAddrExact>,
}

#[derive(Schema, Debug, Clone, PartialEq)]
pub struct Listen {
    pub interface: OneOrMany<AddrPort>,
    pub port: Option<Port>,
    #[schema(default = "a")]
    pub kind: Mode,
}

#[derive(Schema, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    A,
    B,
    #[schema(rename = "c-d")]
    Cd,
}

#[derive(Schema, Debug, Clone, PartialEq)]
pub enum Upstream {
    System,
    Address(AddrPort),
}
