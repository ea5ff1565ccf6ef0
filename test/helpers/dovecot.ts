import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * A private Dovecot (Debian's dovecot-imapd/pop3d) on loopback high ports, with its own config,
 * certificates from a CA made for this run, passwd-file users and maildirs in a temp directory.
 */

const DOVECOT = '/usr/sbin/dovecot';

export function dovecotAvailable(): boolean {
  return fs.existsSync(DOVECOT) && fs.existsSync('/usr/lib/dovecot/imap') && fs.existsSync('/usr/lib/dovecot/pop3');
}

/** With CI=true a missing Dovecot fails the suite instead of skipping it. */
export function requireDovecotInCi(): boolean {
  const available = dovecotAvailable();
  if (!available && process.env.CI === 'true') {
    throw new Error('Dovecot is required when CI=true: apt-get install dovecot-imapd dovecot-pop3d openssl');
  }
  return available;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

export interface Certificates {
  caPem: string;
  certFile: string;
  keyFile: string;
}

/** A CA and a server certificate for `hostname` signed by it; or, with selfSigned, an untrusted one. */
function makeCertificates(dir: string, options: { hostname: string; selfSigned: boolean }): Certificates {
  const days = '2';
  if (options.selfSigned) {
    openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.crt', '-days', days,
      '-subj', `/CN=${options.hostname}`, '-addext', `subjectAltName=DNS:${options.hostname}`], dir);
    return { caPem: fs.readFileSync(path.join(dir, 'server.crt'), 'utf8'), certFile: path.join(dir, 'server.crt'), keyFile: path.join(dir, 'server.key') };
  }
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', days, '-subj', '/CN=DMARC Watch Test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', `/CN=${options.hostname}`], dir);
  fs.writeFileSync(path.join(dir, 'ext.cnf'), `subjectAltName=DNS:${options.hostname},IP:127.0.0.1\nextendedKeyUsage=serverAuth\n`);
  openssl(['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', days, '-extfile', 'ext.cnf'], dir);
  return { caPem: fs.readFileSync(path.join(dir, 'ca.crt'), 'utf8'), certFile: path.join(dir, 'server.crt'), keyFile: path.join(dir, 'server.key') };
}

export interface DovecotOptions {
  users: Record<string, string>;
  /** false: a plaintext-only server (no TLS at all). */
  tls?: boolean;
  /** An untrusted, self-signed certificate for another host name. */
  badCertificate?: boolean;
  /** Accept XOAUTH2 tokens checked against a local introspection endpoint. */
  oauthTokens?: Map<string, string>;
}

export interface DovecotServer {
  dir: string;
  ports: { imap: number; imaps: number; pop3: number; pop3s: number };
  caPem: string;
  deliver(user: string, folder: string, raw: string | Buffer): string;
  /** Message files currently in a folder (new/ and cur/). */
  listFolder(user: string, folder: string): string[];
  /** Forces a new UIDVALIDITY for a folder by dropping Dovecot's index and uid list. */
  resetUidValidity(user: string, folder: string): void;
  log(): string;
  kill(): Promise<void>;
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function folderDir(root: string, user: string, folder: string): string {
  const base = path.join(root, 'mail', user);
  return folder === 'INBOX' ? base : path.join(base, `.${folder.replace(/\//g, '.')}`);
}

async function waitForPort(port: number, child: ChildProcess, logFile: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) {
      throw new Error(`dovecot exited with ${child.exitCode}: ${fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').slice(-2000) : ''}`);
    }
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`dovecot did not open port ${port}`);
}

async function startIntrospection(tokens: Map<string, string>): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const header = req.headers.authorization ?? '';
      const token = new URLSearchParams(body).get('token') ?? header.replace(/^Bearer\s+/i, '');
      const user = tokens.get(token);
      res.setHeader('content-type', 'application/json');
      if (!user) {
        res.statusCode = 401;
        res.end(JSON.stringify({ active: false }));
        return;
      }
      res.end(JSON.stringify({ active: true, username: user, email: user }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return { url: `http://127.0.0.1:${port}/introspect`, close: () => new Promise((r) => server.close(() => r())) };
}

function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

export async function startDovecot(options: DovecotOptions): Promise<DovecotServer> {
  requireDovecotInCi();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dmarcwatch-dovecot-'));
  // Dovecot's auth process runs as the unprivileged `dovecot` user and must read the passwd file.
  fs.chmodSync(dir, 0o755);
  const tls = options.tls !== false;
  const certs = tls ? makeCertificates(dir, { hostname: options.badCertificate ? 'wrong.example' : 'localhost', selfSigned: options.badCertificate === true }) : null;
  const ports = { imap: await freePort(), imaps: await freePort(), pop3: await freePort(), pop3s: await freePort() };
  // Dovecot never runs mail processes as root: as root, mail belongs to `nobody`.
  const uid = process.getuid?.() === 0 ? 65534 : (process.getuid?.() ?? 65534);
  const gid = process.getgid?.() === 0 ? 65534 : (process.getgid?.() ?? 65534);
  const own = (p: string) => {
    if (process.getuid?.() === 0) fs.chownSync(p, uid, gid);
  };
  fs.writeFileSync(path.join(dir, 'passwd'), Object.entries(options.users).map(([u, p]) => `${u}:{PLAIN}${p}::::::\n`).join(''));
  for (const d of ['run', 'state', 'mail', 'home']) fs.mkdirSync(path.join(dir, d));
  for (const d of ['mail', 'home']) own(path.join(dir, d));
  const introspection = options.oauthTokens ? await startIntrospection(options.oauthTokens) : null;
  if (introspection) {
    fs.writeFileSync(
      path.join(dir, 'oauth2.conf'),
      [
        'introspection_mode = post',
        `introspection_url = ${introspection.url}`,
        'username_attribute = username',
        'active_attribute = active',
        'active_value = true',
        'force_introspection = yes',
        '',
      ].join('\n'),
    );
  }
  const conf = [
    `base_dir = ${dir}/run`,
    `state_dir = ${dir}/state`,
    `log_path = ${dir}/dovecot.log`,
    `info_log_path = ${dir}/dovecot.log`,
    'protocols = imap pop3',
    'listen = 127.0.0.1',
    `ssl = ${tls ? 'yes' : 'no'}`,
    ...(certs ? [`ssl_cert = <${certs.certFile}`, `ssl_key = <${certs.keyFile}`] : []),
    `disable_plaintext_auth = ${tls ? 'yes' : 'no'}`,
    `auth_mechanisms = plain login${introspection ? ' xoauth2 oauthbearer' : ''}`,
    'auth_failure_delay = 0',
    'auth_cache_size = 0',
    `mail_location = maildir:${dir}/mail/%u`,
    'first_valid_uid = 1',
    `mail_uid = ${uid}`,
    `mail_gid = ${gid}`,
    'namespace inbox {',
    '  inbox = yes',
    '  separator = /',
    '}',
    'passdb {',
    '  driver = passwd-file',
    `  args = scheme=PLAIN username_format=%u ${dir}/passwd`,
    '}',
    ...(introspection ? ['passdb {', '  driver = oauth2', '  mechanisms = xoauth2 oauthbearer', `  args = ${dir}/oauth2.conf`, '}'] : []),
    'userdb {',
    '  driver = static',
    `  args = uid=${uid} gid=${gid} home=${dir}/home/%u`,
    '}',
    'protocol pop3 {',
    '  pop3_uidl_format = %08Xu%08Xv',
    '}',
    'service imap-login {',
    `  inet_listener imap {\n    port = ${ports.imap}\n  }`,
    `  inet_listener imaps {\n    port = ${tls ? ports.imaps : 0}\n    ssl = yes\n  }`,
    '}',
    'service pop3-login {',
    `  inet_listener pop3 {\n    port = ${ports.pop3}\n  }`,
    `  inet_listener pop3s {\n    port = ${tls ? ports.pop3s : 0}\n    ssl = yes\n  }`,
    '}',
    'service anvil {\n  chroot =\n}',
    'service imap-login {\n  chroot =\n}',
    'service pop3-login {\n  chroot =\n}',
    '',
  ].join('\n');
  const confFile = path.join(dir, 'dovecot.conf');
  fs.writeFileSync(confFile, conf);
  const logFile = path.join(dir, 'dovecot.log');

  let child: ChildProcess;
  let delivered = 0;
  const launch = async () => {
    child = spawn(DOVECOT, ['-F', '-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await waitForPort(ports.imap, child, logFile);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${stderr}`, { cause: error });
    }
  };
  const halt = async (signal: NodeJS.Signals) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    // Dovecot serves each connection from its own process: a crash takes them all down.
    const family = signal === 'SIGKILL' && child.pid ? descendants(child.pid) : [];
    const exited = new Promise((r) => child.once('exit', r));
    child.kill(signal);
    for (const pid of family) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await exited;
  };
  await launch();

  return {
    dir,
    ports,
    caPem: certs?.caPem ?? '',
    deliver(user, folder, raw) {
      const target = folderDir(dir, user, folder);
      const userRoot = path.join(dir, 'mail', user);
      for (const sub of ['new', 'cur', 'tmp']) {
        for (const d of [userRoot, target, path.join(userRoot, sub), path.join(target, sub)]) {
          if (!fs.existsSync(d)) {
            fs.mkdirSync(d, { recursive: true });
            own(d);
          }
        }
      }
      // Dovecot numbers new mail in file-name order: keep names in delivery order.
      delivered += 1;
      const name = `${Date.now()}.${String(delivered).padStart(8, '0')}${crypto.randomBytes(3).toString('hex')}.dmarcwatch-test`;
      fs.writeFileSync(path.join(target, 'tmp', name), raw);
      own(path.join(target, 'tmp', name));
      fs.renameSync(path.join(target, 'tmp', name), path.join(target, 'new', name));
      return name;
    },
    listFolder(user, folder) {
      const target = folderDir(dir, user, folder);
      return ['new', 'cur'].flatMap((sub) => {
        const p = path.join(target, sub);
        return fs.existsSync(p) ? fs.readdirSync(p) : [];
      });
    },
    resetUidValidity(user, folder) {
      const target = folderDir(dir, user, folder);
      for (const file of fs.readdirSync(target)) if (file.startsWith('dovecot')) fs.rmSync(path.join(target, file), { force: true });
      for (const sub of ['cur']) {
        const p = path.join(target, sub);
        if (!fs.existsSync(p)) continue;
        for (const f of fs.readdirSync(p)) fs.renameSync(path.join(p, f), path.join(target, 'new', f.split(':')[0]!));
      }
    },
    log: () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8') : ''),
    kill: () => halt('SIGKILL'),
    restart: async () => {
      await halt('SIGTERM');
      await launch();
    },
    stop: async () => {
      await halt('SIGTERM');
      await introspection?.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
