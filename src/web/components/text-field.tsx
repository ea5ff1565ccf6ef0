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
