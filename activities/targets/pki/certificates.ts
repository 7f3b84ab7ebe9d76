// PEM bundles and X.509 facts a certificate rotation needs (serials, validity, which CA issued what), with node:crypto.
import { X509Certificate } from 'node:crypto';

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM bundle, in order (anything between them is dropped). */
export function pemBlocks(bundle: string): string[] {
  return (bundle.match(PEM_BLOCK) ?? []).map((b) => b.trim());
}

export function joinPem(blocks: ReadonlyArray<string>): string {
  return blocks.length ? `${blocks.join('\n')}\n` : '';
}

/** A serial as OpenBao writes it: lowercase hex byte pairs joined by colons (`02:57:…`). */
export function colonSerial(hex: string): string {
  const bare = hex.replace(/:/g, '').toLowerCase();
  const even = bare.length % 2 ? `0${bare}` : bare;
  return even.match(/../g)!.join(':');
}

/** The leaf (first certificate) of a `tls.crt` bundle, or null when it holds none that parses. */
export function leafOf(bundle: string): X509Certificate | null {
  const first = pemBlocks(bundle)[0];
  if (!first) return null;
  try {
    return new X509Certificate(first);
  } catch {
    return null;
  }
}

/** The leaf's serial in OpenBao's form, or null. */
export function serialOf(bundle: string): string | null {
  const leaf = leafOf(bundle);
  return leaf ? colonSerial(leaf.serialNumber) : null;
}

/** The leaf's validity in epoch ms, or null. */
export function validityOf(bundle: string): { notBefore: number; notAfter: number } | null {
  const leaf = leafOf(bundle);
  if (!leaf) return null;
  return { notBefore: Date.parse(leaf.validFrom), notAfter: Date.parse(leaf.validTo) };
}

function parsed(pem: string): X509Certificate | null {
  try {
    return new X509Certificate(pem);
  } catch {
    return null;
  }
}

/**
 * The union of CA bundles, each certificate once (by fingerprint), in the order first seen, leaving out any that has
 * expired by `now`: the new CA first, then the ones clients may still meet during the overlap.
 */
export function unionOfCAs(bundles: ReadonlyArray<string | undefined>, now: number): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const bundle of bundles) {
    for (const pem of pemBlocks(bundle ?? '')) {
      const cert = parsed(pem);
      if (!cert || seen.has(cert.fingerprint256) || Date.parse(cert.validTo) <= now) continue;
      seen.add(cert.fingerprint256);
      out.push(pem);
    }
  }
  return joinPem(out);
}

/**
 * The CAs of `caBundle` on the issuing path of the `tls.crt` bundle's leaf (its issuer, the issuer's issuer, …, by
 * signature): what ca.crt keeps once the overlap is over and the old certificate is revoked.
 */
export function chainCAs(tlsCrt: string, caBundle: string): string {
  const path = pemBlocks(tlsCrt)
    .map(parsed)
    .filter((c): c is X509Certificate => c !== null);
  const cas = pemBlocks(caBundle)
    .map((pem) => ({ pem, cert: parsed(pem) }))
    .filter((c): c is { pem: string; cert: X509Certificate } => c.cert !== null);
  const kept: string[] = [];
  let frontier = path;
  while (frontier.length) {
    const next: X509Certificate[] = [];
    for (const ca of cas) {
      if (kept.includes(ca.pem)) continue;
      if (frontier.some((c) => c.checkIssued(ca.cert) && c.verify(ca.cert.publicKey))) {
        kept.push(ca.pem);
        // A self-signed root ends its path.
        if (!(ca.cert.checkIssued(ca.cert) && ca.cert.verify(ca.cert.publicKey))) next.push(ca.cert);
      }
    }
    frontier = next;
  }
  return joinPem(cas.filter((c) => kept.includes(c.pem)).map((c) => c.pem));
}
