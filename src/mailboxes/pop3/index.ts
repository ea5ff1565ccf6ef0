export { Pop3Session, testPop3, type Pop3Message } from './session.js';
