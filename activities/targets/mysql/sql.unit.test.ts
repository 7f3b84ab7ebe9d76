// The statements of the mysql target, for both flavours: MySQL 8's syntax paths (dual password, SET DEFAULT ROLE … TO)
// are checked here as text, since no MySQL 8 server runs in the stack (MariaDB answers them with a syntax error).
import {
  account,
  addPasswordSql,
  copiedGrant,
  discardOldPasswordSql,
  flavourOf,
  grantRoleSql,
  nativePasswordHash,
  normalisedGrants,
  parseAccount,
  setPasswordSql,
  supportsDualPassword,
} from './sql';

const mariadb = flavourOf('10.11.19-MariaDB-0+deb12u1');
const mysql8 = flavourOf('8.0.36');

describe('mysql statements', () => {
  it('finds dual passwords on MySQL 8.0.14 and later only, never on MariaDB', () => {
    expect(supportsDualPassword(mariadb)).toBe(false);
    expect(supportsDualPassword(flavourOf('11.4.2-MariaDB'))).toBe(false);
    expect(supportsDualPassword(flavourOf('8.0.13'))).toBe(false);
    expect(supportsDualPassword(flavourOf('8.0.14'))).toBe(true);
    expect(supportsDualPassword(mysql8)).toBe(true);
    expect(supportsDualPassword(flavourOf('8.4.0'))).toBe(true);
    expect(supportsDualPassword(flavourOf('5.7.44-log'))).toBe(false);
  });

  it('escapes both parts of an account, so a quote in a name cannot end the literal', () => {
    expect(account('app_a', '%')).toBe("'app_a'@'%'");
    expect(account("x'; DROP USER root; --", '10.0.%')).toBe("'x\\'; DROP USER root; --'@'10.0.%'");
  });

  it('sends MariaDB the mysql_native_password hash, never the password; MySQL 8 the password with its dual clauses', () => {
    // PASSWORD('password') as MySQL 5.x and MariaDB compute it
    expect(nativePasswordHash('password')).toBe('*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19');
    const onMariadb = setPasswordSql(mariadb, "'app_a'@'%'", 'Pw-secret');
    expect(onMariadb.sql).toBe(
      `ALTER USER 'app_a'@'%' IDENTIFIED BY PASSWORD '${nativePasswordHash('Pw-secret')}' ACCOUNT UNLOCK`,
    );
    expect(onMariadb.sql).not.toContain('Pw-secret');
    expect(onMariadb.secrets).toEqual(['Pw-secret', nativePasswordHash('Pw-secret')]);
    expect(setPasswordSql(mysql8, "'app'@'%'", 'Pw-secret').sql).toBe(
      "ALTER USER 'app'@'%' IDENTIFIED BY 'Pw-secret' ACCOUNT UNLOCK",
    );
    expect(addPasswordSql("'app'@'%'", 'Pw-next').sql).toBe(
      "ALTER USER 'app'@'%' IDENTIFIED BY 'Pw-next' RETAIN CURRENT PASSWORD",
    );
    expect(discardOldPasswordSql("'app'@'%'")).toBe("ALTER USER 'app'@'%' DISCARD OLD PASSWORD");
  });

  it('grants a role as the default one in each flavour’s spelling', () => {
    expect(grantRoleSql(mariadb, 'app_rw', "'app_a'@'%'")).toEqual([
      "GRANT `app_rw` TO 'app_a'@'%'",
      "SET DEFAULT ROLE `app_rw` FOR 'app_a'@'%'",
    ]);
    expect(grantRoleSql(mysql8, 'app_rw', "'app_a'@'%'")[1]).toBe("SET DEFAULT ROLE `app_rw` TO 'app_a'@'%'");
  });

  it("copies a template's grants to another account, leaving out its password and the login-only USAGE line", () => {
    const to = "'app_a'@'%'";
    expect(copiedGrant("GRANT USAGE ON *.* TO `tpl`@`%` IDENTIFIED BY PASSWORD '*ABC'", 'tpl', '%', to)).toBeNull();
    expect(copiedGrant('GRANT SELECT, INSERT ON `appdb`.* TO `tpl`@`%`', 'tpl', '%', to)).toBe(
      "GRANT SELECT, INSERT ON `appdb`.* TO 'app_a'@'%'",
    );
    expect(copiedGrant('GRANT `app_rw` TO `tpl`@`%`', 'tpl', '%', to)).toBe("GRANT `app_rw` TO 'app_a'@'%'");
    expect(copiedGrant('SET DEFAULT ROLE `app_rw` FOR `tpl`@`%`', 'tpl', '%', to)).toBe(
      "SET DEFAULT ROLE `app_rw` FOR 'app_a'@'%'",
    );
    expect(copiedGrant('GRANT SELECT ON `x`.* TO `other`@`%`', 'tpl', '%', to)).toBeNull();
  });

  it('compares two accounts’ grants with the grantee left out', () => {
    const a = normalisedGrants(
      ["GRANT USAGE ON *.* TO `u_a`@`%` IDENTIFIED BY PASSWORD '*1'", 'GRANT `r` TO `u_a`@`%`'],
      'u_a',
      '%',
    );
    const b = normalisedGrants(['GRANT `r` TO `u_b`@`%`', 'GRANT USAGE ON *.* TO `u_b`@`%`'], 'u_b', '%');
    expect(a).toEqual(b);
    expect(a).toEqual(['GRANT `r` TO ?']);
  });

  it("reads an account as config writes it: 'user'@'host', user@host or user (host %)", () => {
    expect(parseAccount("'tpl'@'10.0.%'")).toEqual({ user: 'tpl', host: '10.0.%' });
    expect(parseAccount('tpl@localhost')).toEqual({ user: 'tpl', host: 'localhost' });
    expect(parseAccount('tpl')).toEqual({ user: 'tpl', host: '%' });
  });
});
