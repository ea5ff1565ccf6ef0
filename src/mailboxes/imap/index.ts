export { ImapSession, testImap, type FetchedMessage, type FetchNewOptions, type ImapCursor, type SelectedFolder } from './session.js';
