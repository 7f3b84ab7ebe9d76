// What other layers may use of the postgresql target plugin besides its index: whether a login works.
export { canLogIn } from './target';
