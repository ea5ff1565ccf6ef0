import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('sign-in settings', () => {
  it('defaults: public URL on localhost and PORT, open sign-up, no SMTP, no trusted proxies', () => {
    const config = loadConfig({ PORT: '8081' });
    expect(config.publicUrl).toBe('http://localhost:8081');
    expect(config.signup).toBe('open');
    expect(config.mail).toEqual({ smtpUrl: undefined, from: 'DMARC Watch <dmarcwatch@localhost>' });
    expect(config.adminEmail).toBeUndefined();
    expect(config.trustedProxies).toEqual([]);
  });

  it('reads every variable', () => {
    const config = loadConfig({
      DMARCWATCH_PUBLIC_URL: 'https://DMARC.example.com/',
      SMTP_URL: 'smtps://u:p%40ss@mail.example.com:465',
      SMTP_FROM: 'Reports <dmarc@example.com>',
      DMARCWATCH_SIGNUP: 'invite',
      DMARCWATCH_ADMIN_EMAIL: ' admin@example.com ',
      DMARCWATCH_TRUSTED_PROXIES: '10.0.0.0/8, 192.0.2.1,fd00::/8',
    });
    expect(config.publicUrl).toBe('https://dmarc.example.com');
    expect(config.mail).toEqual({ smtpUrl: 'smtps://u:p%40ss@mail.example.com:465', from: 'Reports <dmarc@example.com>' });
    expect(config.signup).toBe('invite');
    expect(config.adminEmail).toBe('admin@example.com');
    expect(config.trustedProxies).toEqual(['10.0.0.0/8', '192.0.2.1', 'fd00::/8']);
  });

  it('defaults SMTP_FROM to an address at the public host', () => {
    expect(loadConfig({ DMARCWATCH_PUBLIC_URL: 'https://dmarc.example.com' }).mail.from).toBe('DMARC Watch <dmarcwatch@dmarc.example.com>');
  });

  it('refuses a public URL browsers could not keep a session cookie for, or one with a path', () => {
    expect(problems({ DMARCWATCH_PUBLIC_URL: 'http://dmarc.example.com' })[0]).toMatch(/^DMARCWATCH_PUBLIC_URL: must be https:\/\//);
    expect(problems({ DMARCWATCH_PUBLIC_URL: 'https://example.com/dmarc' })[0]).toMatch(/origin only/);
    expect(problems({ DMARCWATCH_PUBLIC_URL: 'ftp://example.com' })[0]).toMatch(/https:\/\//);
    expect(problems({ DMARCWATCH_PUBLIC_URL: 'dmarc.example.com' })[0]).toMatch(/e\.g\. https:\/\/dmarc\.example\.com/);
    expect(problems({ DMARCWATCH_PUBLIC_URL: 'http://127.0.0.1:3000' })).toEqual([]);
  });

  it('never echoes SMTP_URL, which holds a password', () => {
    const [problem] = problems({ SMTP_URL: 'http://user:hunter2-secret@mail.example.com' });
    expect(problem).toMatch(/^SMTP_URL: expected smtp:\/\//);
    expect(problem).not.toContain('hunter2');
  });

  it('explains bad values of the other variables', () => {
    const found = problems({
      SMTP_FROM: 'nobody',
      DMARCWATCH_SIGNUP: 'sometimes',
      DMARCWATCH_ADMIN_EMAIL: 'root',
      DMARCWATCH_TRUSTED_PROXIES: '10.0.0.0/8, proxy.local, 10.0.0.0/33',
    });
    expect(found).toHaveLength(4);
    expect(found.find((p) => p.startsWith('SMTP_FROM:'))).toMatch(/dmarc@example\.com/);
    expect(found.find((p) => p.startsWith('DMARCWATCH_SIGNUP:'))).toBeDefined();
    expect(found.find((p) => p.startsWith('DMARCWATCH_ADMIN_EMAIL:'))).toMatch(/email address/);
    expect(found.find((p) => p.startsWith('DMARCWATCH_TRUSTED_PROXIES:'))).toMatch(/"proxy\.local", "10\.0\.0\.0\/33"/);
  });
});
