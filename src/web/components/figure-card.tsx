import type { Child } from 'hono/jsx';

/** One headline number of a page with what it counts, e.g. "1,234 messages reported". */
export function FigureCard(props: { figure: Child; children: Child }) {
  return (
    <div class="card">
      <span class="figure">{props.figure}</span> {props.children}
    </div>
  );
}
