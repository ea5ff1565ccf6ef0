/**
 * The service-entry form: what people type (one rule per line) to an entry, and each problem in
 * words next to its field.
 */
import type { z } from 'zod';
import { serviceEntrySchema, type ServiceEntry } from '../enrich/services.js';
import { compact, hasRules, NO_RULE } from './entries.js';

export interface EntryFormValues {
  id: string;
  name: string;
  category: string;
  ptr: string;
  asns: string;
  dkim: string;
  forwards: boolean;
  notes: string;
}

export type EntryField = keyof EntryFormValues;
export type EntryProblems = Partial<Record<EntryField, string>>;

export const EMPTY_ENTRY_FORM: EntryFormValues = { id: '', name: '', category: '', ptr: '', asns: '', dkim: '', forwards: false, notes: '' };

export function entryFormValues(form: Record<string, unknown>): EntryFormValues {
  const text = (name: string) => (typeof form[name] === 'string' ? form[name] : '');
  return {
    id: text('id').trim(),
    name: text('name'),
    category: text('category'),
    ptr: text('ptr'),
    asns: text('asns'),
    dkim: text('dkim'),
    forwards: form.forwards === 'on' || form.forwards === 'true',
    notes: text('notes'),
  };
}

export function formOfEntry(entry: ServiceEntry): EntryFormValues {
  return {
    id: entry.id,
    name: entry.name,
    category: entry.category,
    ptr: (entry.ptr ?? []).join('\n'),
    asns: (entry.asns ?? []).map((n) => `AS${n}`).join('\n'),
    dkim: (entry.dkim ?? []).join('\n'),
    forwards: entry.forwards === true,
    notes: entry.notes ?? '',
  };
}

function lines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

const FIELD_WORDS: Partial<Record<EntryField, string>> = {
  id: 'Use 1 to 63 lower-case letters, digits and dashes, starting with a letter or a digit (for example crm-relay).',
  name: 'Give it a name of at most 120 characters.',
  category: 'Choose what kind of service it is.',
  notes: 'At most 500 characters.',
};

function problemOf(issue: z.core.$ZodIssue, raw: Record<string, unknown>): [EntryField, string] | null {
  const [field, index] = issue.path;
  if (typeof field !== 'string' || !(field in EMPTY_ENTRY_FORM)) return null;
  const key = field as EntryField;
  if (typeof index !== 'number') {
    return [key, FIELD_WORDS[key] ?? (issue.code === 'too_big' ? 'At most 50 rules.' : issue.message)];
  }
  const list = raw[key];
  const value = Array.isArray(list) ? String(list[index] as unknown) : '';
  if (key === 'asns') return [key, `“${value}” is not an AS number (1 to 4294967295).`];
  return [key, `“${value}” is not ${issue.message}.`];
}

/** The entry the form describes, or the problems of its fields in words. */
export function checkEntryForm(values: EntryFormValues): { entry: ServiceEntry } | { problems: EntryProblems } {
  const problems: EntryProblems = {};
  const asns: number[] = [];
  for (const line of lines(values.asns)) {
    const digits = line.replace(/^as/i, '');
    if (!/^\d{1,10}$/.test(digits)) problems.asns ??= `“${line}” is not an AS number: write 64500 or AS64500, one per line.`;
    else asns.push(Number(digits));
  }
  const raw: Record<string, unknown> = {
    id: values.id,
    name: values.name,
    category: values.category,
    ptr: lines(values.ptr),
    asns,
    dkim: lines(values.dkim),
    forwards: values.forwards,
    ...(values.notes.trim() === '' ? {} : { notes: values.notes.trim() }),
  };
  const parsed = serviceEntrySchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const problem = problemOf(issue, raw);
      if (problem) problems[problem[0]] ??= problem[1];
    }
  }
  if (Object.keys(problems).length > 0 || !parsed.success) return { problems: Object.keys(problems).length > 0 ? problems : { id: 'The entry could not be read.' } };
  const entry = compact(parsed.data);
  if (!hasRules(entry)) return { problems: { ptr: NO_RULE } };
  return { entry };
}
