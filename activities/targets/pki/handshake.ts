// A real TLS handshake against the endpoint consumers use: which certificate it serves, and whether its chain validates.
import * as tls from 'node:tls';
import { colonSerial } from './certificates';

export interface Handshake {
  /** The served leaf's serial, OpenBao's form. */
  serial: string;
  /** The chain validated against the CAs given (and the name matched), or why not. */
  authorized: boolean;
  authorizationError: string | null;
  notAfter: number;
}

export interface HandshakeTarget {
  host: string;
  port: number;
  /** The name sent as SNI and checked against the certificate (default: host). */
  servername?: string;
  /** PEM bundle of the CAs to trust (the stored ca.crt). */
  ca: string;
  timeoutMs?: number;
}

/**
 * Connects, completes the TLS handshake and reads the served certificate; never sends application data. Rejects on
 * network failures (refused, timeout, a server that drops the handshake): the caller treats those as TRANSIENT.
 */
export function handshake(target: HandshakeTarget): Promise<Handshake> {
  const servername = target.servername ?? target.host;
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: target.host,
      port: target.port,
      // SNI must be a name, not an IP address.
      ...(/^[\d.:]+$/.test(servername) ? {} : { servername }),
      ca: target.ca,
      // Checked below, so a refused chain is an answer (VERIFY_FAILED) rather than a network error.
      rejectUnauthorized: false,
      checkServerIdentity: (host, cert) => tls.checkServerIdentity(servername || host, cert),
    });
    const timer = setTimeout(
      () =>
        socket.destroy(new Error(`no TLS handshake with ${target.host}:${target.port} within ${target.timeoutMs ?? 5000} ms`)),
      target.timeoutMs ?? 5000,
    );
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const peer = socket.getPeerX509Certificate();
      const authorizationError = socket.authorized ? null : String(socket.authorizationError ?? 'not authorized');
      socket.end();
      if (!peer) return reject(new Error(`${target.host}:${target.port} served no certificate`));
      resolve({
        serial: colonSerial(peer.serialNumber),
        authorized: socket.authorized,
        authorizationError,
        notAfter: Date.parse(peer.validTo),
      });
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
