import type { Child } from 'hono/jsx';

/**
 * A Copy button for the element `target` (a field's value, or an element's text), with the status
 * region that says "Copied". Hidden until /assets/copy.js shows it: without script the value stays
 * text to select.
 */
export function CopyButton(props: { target: string; what: string }) {
  return (
    <>
      <button type="button" class="secondary copy-button" data-copy={props.target} aria-label={`Copy ${props.what}`} hidden>
        Copy
      </button>
      <span class="copy-status" role="status" aria-live="polite" data-copy-status={props.target}></span>
    </>
  );
}

/** A value to copy (a key shown once, a DNS record, a secret): a labelled read-only field and its Copy button. */
export function CopyField(props: { id: string; label: Child; value: string; what: string; hint?: Child }) {
  const hintId = `${props.id}-hint`;
  return (
    <div class="copy-field">
      <label for={props.id}>{props.label}</label>
      <div class="copy-row">
        <input type="text" id={props.id} class="secret" readonly value={props.value} autocomplete="off" spellcheck={false} aria-describedby={props.hint ? hintId : undefined} />
        <CopyButton target={props.id} what={props.what} />
      </div>
      {props.hint ? (
        <span class="hint" id={hintId}>
          {props.hint}
        </span>
      ) : null}
    </div>
  );
}
