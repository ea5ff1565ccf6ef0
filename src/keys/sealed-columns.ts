import { SECRET_COLUMNS } from '../mailboxes/manage.js';

/** Every sealed column in the database; `keys rotate` and `keys check` walk exactly these. */
export const SEALED_COLUMNS: readonly { table: 'mailbox'; columns: readonly string[] }[] = [
  { table: 'mailbox', columns: SECRET_COLUMNS },
];
