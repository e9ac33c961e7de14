// The plan preview and the apply: a dry run of `PUT /v1/config{pointer}` (one value) or
// `PUT /v1/config` (the whole document, YAML), shown per pointer with its impact, or every
// error at its pointer. Applying sends the same request without the dry run, with `If-Match`
// set to the ETag the preview was made against (so a change made in between is refused, not
// overwritten), after a confirmation. The guard decides who may: a read-only token may not
// even ask for a dry run (any method but GET is refused), so the page says so up front.

import { api, ApiFailure, configPath } from './api.js';

const IMPACT = {
  hot: 'applied to the running workers',
  rolling: 'rolling restart of the workers',
  'restart-required': 'needs a restart of the whole service',
};

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** The change the form describes: the request path and the body. */
function request(form) {
  if (form.elements.mode.value === 'document') {
    return { path: '/v1/config', body: form.elements.document.value, what: 'the whole configuration' };
  }
  let pointer = form.elements.pointer.value.trim();
  if (pointer !== '' && !pointer.startsWith('/')) pointer = '/' + pointer;
  return { path: configPath(pointer), body: form.elements.value.value, what: pointer || 'the whole configuration' };
}

function planView(answer) {
  const changes = answer.plan?.changes ?? [];
  if (changes.length === 0) return element('p', { class: 'ok' }, 'Nothing would change.');
  const list = element('ul', { class: 'plan' });
  for (const change of changes) {
    list.append(
      element(
        'li',
        { 'data-pointer': change.pointer, 'data-impact': change.impact },
        element('code', {}, change.pointer),
        ' ',
        element('span', { class: `impact ${change.impact}` }, change.impact),
        ' ',
        element('span', { class: 'note' }, change.action || IMPACT[change.impact] || ''),
      ),
    );
  }
  return list;
}

function errorsView(failure) {
  const list = element('ul', { class: 'errors' });
  for (const error of failure.errors) {
    list.append(
      element(
        'li',
        { 'data-pointer': error.pointer },
        error.pointer ? element('code', {}, error.pointer) : '',
        error.pointer ? ': ' : '',
        error.message,
      ),
    );
  }
  return element('div', { class: 'failed' }, element('p', {}, `Refused (HTTP ${failure.status}):`), list);
}

/** Wires the form; `context()` gives the latest `/status` and the running config. */
export function setupPlan({ context, onApplied }) {
  const form = document.getElementById('plan-form');
  const result = document.getElementById('plan-result');
  const apply = document.getElementById('apply');
  const preview = document.getElementById('preview');
  const note = document.getElementById('scope-note');
  const dialog = document.getElementById('confirm');
  let planned = null;

  const showMode = () => {
    const whole = form.elements.mode.value === 'document';
    document.getElementById('pointer-fields').hidden = whole;
    document.getElementById('document-fields').hidden = !whole;
    planned = null;
    apply.disabled = true;
  };
  for (const radio of form.elements.mode) radio.addEventListener('change', showMode);
  document.getElementById('load-running').addEventListener('click', () => {
    form.elements.document.value = context().configYaml ?? '';
  });
  form.addEventListener('input', () => {
    planned = null;
    apply.disabled = true;
  });

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const change = request(form);
    result.replaceChildren(element('p', { class: 'note' }, 'Planning…'));
    planned = null;
    apply.disabled = true;
    try {
      const { json } = await api(`${change.path}?dry-run=true`, {
        method: 'PUT',
        body: change.body,
        headers: { 'Content-Type': 'application/yaml' },
      });
      planned = { ...change, etag: json.etag, answer: json };
      result.replaceChildren(element('p', {}, `Plan for ${change.what} (dry run, nothing applied):`), planView(json));
      apply.disabled = !mayChange() || (json.plan?.changes ?? []).length === 0;
    } catch (failure) {
      if (!(failure instanceof ApiFailure)) throw failure;
      result.replaceChildren(errorsView(failure));
    }
  });

  apply.addEventListener('click', () => {
    if (!planned) return;
    document.getElementById('confirm-plan').replaceChildren(
      element('p', {}, `Apply the change to ${planned.what}? This changes the running resolver:`),
      planView(planned.answer),
    );
    dialog.showModal();
    document.getElementById('confirm-cancel').focus();
  });
  document.getElementById('confirm-cancel').addEventListener('click', () => dialog.close());
  document.getElementById('confirm-apply').addEventListener('click', async () => {
    dialog.close();
    const change = planned;
    planned = null;
    apply.disabled = true;
    result.replaceChildren(element('p', { class: 'note' }, 'Applying…'));
    try {
      const { json } = await api(change.path, {
        method: 'PUT',
        body: change.body,
        headers: { 'Content-Type': 'application/yaml', 'If-Match': change.etag },
      });
      const outcome = json.applied ? `Applied: generation ${json.generation}.` : 'Nothing to apply.';
      result.replaceChildren(element('p', { class: 'ok', id: 'applied' }, outcome), planView(json));
      onApplied();
    } catch (failure) {
      if (!(failure instanceof ApiFailure)) throw failure;
      if (failure.status === 412) {
        failure.errors.unshift({ pointer: '', message: 'the configuration changed since the preview: preview again' });
      }
      result.replaceChildren(errorsView(failure));
    }
  });

  /** Whether the page's user may change the configuration (a token of full scope, or none). */
  function mayChange() {
    return context().status?.you?.scope !== 'read-only';
  }

  return {
    /** Called at each status: a read-only token may neither preview nor apply. */
    refresh() {
      const readOnly = !mayChange();
      preview.disabled = readOnly;
      if (readOnly) apply.disabled = true;
      note.textContent = readOnly
        ? `The token “${context().status.you.token}” is read-only: it may look, not plan or apply changes.`
        : '';
    },
  };
}
