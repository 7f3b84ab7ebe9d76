// The statements the mysql target sends, built here and nowhere else: accounts as escaped 'user'@'host' pairs, and the
// password clauses of each server flavour (MariaDB: a mysql_native_password hash, so the plaintext never reaches the
// server; MySQL 8: the plaintext, which MySQL rewrites out of its own logs, and its dual password clauses).
import { createHash } from 'node:crypto';
import { escape, escapeId } from 'mysql2';

/** What the server is, read once from VERSION(): it decides the password syntax and whether dual passwords exist. */
export interface ServerFlavour {
  mariadb: boolean;
  version: [number, number, number];
  /** The VERSION() text, for messages. */
  text: string;
}

export function flavourOf(versionText: string): ServerFlavour {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(versionText);
  const version: [number, number, number] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
  return { mariadb: /mariadb/i.test(versionText), version, text: versionText };
}

/**
 * MySQL 8.0.14 added dual passwords (`RETAIN CURRENT PASSWORD`, `DISCARD OLD PASSWORD`); MariaDB has none (10.11 and
 * 11.x answer the clause with a syntax error).
 */
export function supportsDualPassword(f: ServerFlavour): boolean {
  if (f.mariadb) return false;
  const [major, minor, patch] = f.version;
  return major > 8 || (major === 8 && (minor > 0 || patch >= 14));
}

/** An account as MySQL writes it: `'user'@'host'`, both parts escaped as string literals. */
export function account(user: string, host: string): string {
  return `${escape(user)}@${escape(host)}`;
}

/** A role as a grant names it (MariaDB: an identifier; MySQL 8: `role`@`%`, which the bare identifier means). */
export function role(name: string): string {
  return escapeId(name);
}

/** The hash mysql_native_password keeps: `*` + hex(SHA1(SHA1(password))), upper case (what PASSWORD() returns). */
export function nativePasswordHash(password: string): string {
  const inner = createHash('sha1').update(password, 'utf8').digest();
  return `*${createHash('sha1').update(inner).digest('hex').toUpperCase()}`;
}

/** The clause that sets a password, and the texts no error may carry (the plaintext, and the hash where sent). */
export function identifiedBy(f: ServerFlavour, password: string): { clause: string; secrets: string[] } {
  if (f.mariadb) {
    const hash = nativePasswordHash(password);
    return { clause: `IDENTIFIED BY PASSWORD ${escape(hash)}`, secrets: [password, hash] };
  }
  return { clause: `IDENTIFIED BY ${escape(password)}`, secrets: [password] };
}

/** Sets the login's one password and lets it log in (single-user, alternating-users). */
export function setPasswordSql(f: ServerFlavour, acct: string, password: string): { sql: string; secrets: string[] } {
  const { clause, secrets } = identifiedBy(f, password);
  return { sql: `ALTER USER ${acct} ${clause} ACCOUNT UNLOCK`, secrets };
}

/** MySQL 8 only: the new password becomes the primary, the current one stays valid as the secondary. */
export function addPasswordSql(acct: string, password: string): { sql: string; secrets: string[] } {
  return { sql: `ALTER USER ${acct} IDENTIFIED BY ${escape(password)} RETAIN CURRENT PASSWORD`, secrets: [password] };
}

/** MySQL 8 only: withdraws the secondary (retained) password. */
export function discardOldPasswordSql(acct: string): string {
  return `ALTER USER ${acct} DISCARD OLD PASSWORD`;
}

/** Withdraws the login without dropping it (its grants stay for a rollback): locked accounts are refused at login. */
export function lockSql(acct: string): string {
  return `ALTER USER IF EXISTS ${acct} ACCOUNT LOCK`;
}

/** A new login, locked until its password is set (so it never exists with an empty password). */
export function createLockedSql(acct: string): string {
  return `CREATE USER IF NOT EXISTS ${acct} ACCOUNT LOCK`;
}

/** Grants the role and makes it the login's default (the two flavours spell the second differently). */
export function grantRoleSql(f: ServerFlavour, roleName: string, acct: string): string[] {
  const r = role(roleName);
  return [`GRANT ${r} TO ${acct}`, f.mariadb ? `SET DEFAULT ROLE ${r} FOR ${acct}` : `SET DEFAULT ROLE ${r} TO ${acct}`];
}

/**
 * A `SHOW GRANTS FOR` line of the template `user`@`host`, rewritten for `acct`: the grantee replaced, a password clause
 * dropped. The login-only USAGE line, PROXY grants and lines that do not name the template are left out (null).
 */
export function copiedGrant(line: string, user: string, host: string, acct: string): string | null {
  if (/^GRANT USAGE ON \*\.\* TO /i.test(line) || /^GRANT PROXY ON /i.test(line)) return null;
  if (!shownAccount(user, host).test(line)) return null;
  // MariaDB shows the default role as a statement of its own (SET DEFAULT ROLE … FOR): kept, with the new grantee.
  return line
    .replace(shownAccount(user, host), acct)
    .replace(/\s+IDENTIFIED BY PASSWORD\s+'[^']*'/i, '')
    .replace(/\s+IDENTIFIED (VIA|WITH) .*$/i, '');
}

/** A regex matching how SHOW GRANTS writes `user`@`host` (backticks on MariaDB and MySQL 8, quotes on older ones). */
export function shownAccount(user: string, host: string): RegExp {
  const lit = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`[\`']${lit(user)}[\`']@[\`']${lit(host)}[\`']`, 'g');
}

/** The grants of one account in a form two accounts can be compared by (the grantee written as `?`). */
export function normalisedGrants(lines: string[], user: string, host: string): string[] {
  return lines
    .map((l) => l.replace(shownAccount(user, host), '?').replace(/\s+IDENTIFIED BY PASSWORD\s+'[^']*'/i, ''))
    .filter((l) => !/^GRANT USAGE ON \*\.\* TO \?$/i.test(l))
    .sort();
}

/** `'user'@'host'`, `user@host`, `` `user`@`host` `` or `user` (host `%`): the parts of an account written in config. */
export function parseAccount(text: string): { user: string; host: string } | null {
  const part = `(?:'([^']*)'|\`([^\`]*)\`|"([^"]*)"|([^@'"\`\\s]+))`;
  const m = new RegExp(`^${part}(?:@${part})?$`).exec(text.trim());
  if (!m) return null;
  const user = m[1] ?? m[2] ?? m[3] ?? m[4];
  const host = m[5] ?? m[6] ?? m[7] ?? m[8] ?? '%';
  return user ? { user, host } : null;
}
