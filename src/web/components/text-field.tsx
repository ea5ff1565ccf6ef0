import type { Child } from 'hono/jsx';

interface FieldProps {
  id: string;
  name: string;
  label: string;
  hint?: string;
  value?: string;
  problem?: string | undefined;
}

/** The control's label with its hint, the control, and its problem in words after a bad submit. */
function Field(props: FieldProps & { children: Child }) {
  return (
    <>
      <label for={props.id}>
        {props.label}
        {props.hint ? <span class="hint">{props.hint}</span> : null}
      </label>
      {props.children}
      {props.problem ? (
        <p id={`${props.id}-problem`} class="error">
          {props.problem}
        </p>
      ) : null}
    </>
  );
}

/** A control's attributes that tie it to its problem for assistive technology. */
function problemAttributes(props: FieldProps) {
  return { 'aria-invalid': props.problem ? 'true' : undefined, 'aria-describedby': props.problem ? `${props.id}-problem` : undefined };
}

/** A labelled one-line text input with an optional hint, and its problem in words after a bad submit. */
export function TextField(props: FieldProps & { maxlength: number }) {
  return (
    <Field {...props}>
      <input type="text" id={props.id} name={props.name} required maxlength={props.maxlength} value={props.value ?? ''} {...problemAttributes(props)} />
    </Field>
  );
}

/** A labelled multi-line text area (e.g. one rule per line), with its hint and its problem in words. */
export function TextAreaField(props: FieldProps & { rows?: number; maxlength?: number }) {
  return (
    <Field {...props}>
      <textarea id={props.id} name={props.name} rows={props.rows ?? 3} maxlength={props.maxlength} {...problemAttributes(props)}>
        {props.value ?? ''}
      </textarea>
    </Field>
  );
}

/** A labelled choice among options ([value, words]), with its problem in words. */
export function SelectField(props: FieldProps & { options: ReadonlyArray<readonly [string, string]>; placeholder?: string }) {
  return (
    <Field {...props}>
      <select id={props.id} name={props.name} required {...problemAttributes(props)}>
        {props.placeholder !== undefined ? (
          <option value="" selected={!props.value}>
            {props.placeholder}
          </option>
        ) : null}
        {props.options.map(([value, words]) => (
          <option value={value} selected={value === props.value}>
            {words}
          </option>
        ))}
      </select>
    </Field>
  );
}
