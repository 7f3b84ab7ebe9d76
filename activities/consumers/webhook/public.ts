// What other layers may use of the webhook plugin besides its index: how a request is signed and checked.
export { signature, signatureMatches } from './webhook';
