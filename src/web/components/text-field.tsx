/** A labelled one-line text input with an optional hint, and its problem in words after a bad submit. */
export function TextField(props: { id: string; name: string; label: string; hint?: string; value?: string; problem?: string | undefined; maxlength: number }) {
  const problemId = `${props.id}-problem`;
  return (
    <>
      <label for={props.id}>
        {props.label}
        {props.hint ? <span class="hint">{props.hint}</span> : null}
      </label>
      <input
        type="text"
        id={props.id}
        name={props.name}
        required
        maxlength={props.maxlength}
        value={props.value ?? ''}
        aria-invalid={props.problem ? 'true' : undefined}
        aria-describedby={props.problem ? problemId : undefined}
      />
      {props.problem ? (
        <p id={problemId} class="error">
          {props.problem}
        </p>
      ) : null}
    </>
  );
}

/** A labelled multi-line text area (e.g. one rule per line), with its hint and its problem in words. */
export function TextAreaField(props: { id: string; name: string; label: string; hint?: string; value?: string; problem?: string | undefined; rows?: number; maxlength?: number }) {
  const problemId = `${props.id}-problem`;
  return (
    <>
      <label for={props.id}>
        {props.label}
        {props.hint ? <span class="hint">{props.hint}</span> : null}
      </label>
      <textarea
        id={props.id}
        name={props.name}
        rows={props.rows ?? 3}
        maxlength={props.maxlength}
        aria-invalid={props.problem ? 'true' : undefined}
        aria-describedby={props.problem ? problemId : undefined}
      >
        {props.value ?? ''}
      </textarea>
      {props.problem ? (
        <p id={problemId} class="error">
          {props.problem}
        </p>
      ) : null}
    </>
  );
}

/** A labelled choice among options ([value, words]), with its problem in words. */
export function SelectField(props: { id: string; name: string; label: string; hint?: string; value?: string; options: ReadonlyArray<readonly [string, string]>; placeholder?: string; problem?: string | undefined }) {
  const problemId = `${props.id}-problem`;
  return (
    <>
      <label for={props.id}>
        {props.label}
        {props.hint ? <span class="hint">{props.hint}</span> : null}
      </label>
      <select id={props.id} name={props.name} required aria-invalid={props.problem ? 'true' : undefined} aria-describedby={props.problem ? problemId : undefined}>
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
      {props.problem ? (
        <p id={problemId} class="error">
          {props.problem}
        </p>
      ) : null}
    </>
  );
}
