/**
 * The Debian package: the single executable, the hardened systemd unit and an example agent
 * config, built with `dpkg-deb` from what scripts/build-cli.ts made:
 *
 *   npx tsx packaging/deb.ts [--arch x64|arm64] [--version 0.1.0] [--out dist]
 *
 * writes `<out>/certkeeper_<version>_<amd64|arm64>.deb`. Run `npm run build:cli` first (or
 * pass --build to build the executable here).
 *
 * What the package installs, and what it leaves alone:
 *
 * - /usr/bin/certkeeper                          the executable (no Node.js, no node_modules)
 * - /lib/systemd/system/certkeeper-agent.service agent/examples/certkeeper-agent.service
 * - /usr/share/doc/certkeeper/                   agent README, example config, licence notices
 * - /etc/certkeeper/                             created (0750) by postinst, empty: `certkeeper
 *                                                agent join` writes agent.json there
 * - /etc/ssl/certkeeper/                         created by postinst (the unit's ReadWritePaths)
 *
 * /etc/certkeeper and the agent's state (/var/lib/certkeeper, systemd's StateDirectory) are
 * the operator's, not dpkg's: no file under them is in the package, so dpkg never rewrites
 * them on upgrade and never deletes them, not even on purge (dpkg deletes a package's
 * conffiles on purge, which is why the config is not declared as one). Upgrades restart a
 * running agent; a first install writes no config and enables nothing: `agent join` does
 * both, for the agent its token names (an example config there would name another agent and
 * a bucket nobody owns, and stand in join's way).
 */
import { execFile } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { bundleCli, CLI_BUNDLE } from '../scripts/cli-bundle.js';
import { type Arch, buildSea, hostArch, seaPath } from '../scripts/sea-build.js';

const execFileAsync = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEBIAN_ARCH: Record<Arch, string> = { x64: 'amd64', arm64: 'arm64' };
export const UNIT = 'certkeeper-agent.service';

export function packageVersion(): string {
  return (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

export const debPath = (outDir: string, version: string, arch: Arch): string =>
  path.join(outDir, `certkeeper_${version}_${DEBIAN_ARCH[arch]}.deb`);

// Maintainer scripts. `$1` is what dpkg is doing (configure, upgrade, remove, purge).
// systemctl only where systemd runs (not in a container build or a chroot).
const POSTINST = `#!/bin/sh
set -e
if [ "$1" = configure ]; then
  mkdir -p /etc/certkeeper
  chmod 0750 /etc/certkeeper
  # The unit's ReadWritePaths: it must exist for the agent to start, and the agent cannot
  # create it under ProtectSystem=strict.
  mkdir -p /etc/ssl/certkeeper
  if [ ! -e /etc/certkeeper/agent.json ]; then
    echo "certkeeper: join the fleet with the token from certkeeper agent add: sudo certkeeper agent join <token>"
    echo "certkeeper: (or, in direct mode, start from /usr/share/doc/certkeeper/examples/agent.config.json)"
  fi
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
    # An upgrade: the running agent finishes its check (SIGTERM) and starts the new binary.
    systemctl try-restart ${UNIT} || true
  fi
fi
exit 0
`;

const PRERM = `#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl disable --now ${UNIT} || true
fi
exit 0
`;

const POSTRM = `#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
if [ "$1" = purge ]; then
  # Kept on purpose: the operator's config and the agent's state (what it installed, and when).
  for dir in /etc/certkeeper /var/lib/certkeeper; do
    if [ -d "$dir" ]; then echo "certkeeper: $dir is kept; remove it by hand if it is no longer needed"; fi
  done
fi
exit 0
`;

function control(version: string, arch: Arch, installedKb: number): string {
  return `Package: certkeeper
Version: ${version}
Architecture: ${DEBIAN_ARCH[arch]}
Maintainer: certkeeper maintainers <certkeeper@users.noreply.github.com>
Installed-Size: ${installedKb}
Depends: libc6 (>= 2.28), libstdc++6 (>= 10), libgcc-s1
Section: admin
Priority: optional
Homepage: https://github.com/certkeeper/certkeeper
Description: ACME certificates from a certkeeper stack on AWS: CLI and server agent
 certkeeper keeps this server's TLS certificates current: the agent pulls them from the
 certkeeper bucket, verifies them, installs them atomically and reloads the web server.
 The same executable is the operator CLI and issues certificates locally without AWS.
 A single executable (Node.js ${'embedded'}); it needs no Node.js installation.
`;
}

export interface DebOptions {
  arch?: Arch;
  version?: string;
  outDir?: string;
  /** The executable to package (default: scripts/sea-build.ts's for `arch`). */
  executable?: string;
  /**
   * dpkg-deb's compressor: xz (the default, ~4x smaller, ~1 min on a busy 2-core machine)
   * for what is shipped; none for a package built only to be installed by the tests.
   */
  compression?: 'xz' | 'gzip' | 'none';
}

export async function buildDeb(options: DebOptions = {}): Promise<{ file: string; bytes: number }> {
  const arch = options.arch ?? hostArch();
  const version = options.version ?? packageVersion();
  const outDir = path.resolve(options.outDir ?? path.join(ROOT, 'dist'));
  const executable = options.executable ?? seaPath(arch);
  if (!existsSync(executable)) throw new Error(`${executable} is missing: run npm run build:cli first`);

  const root = path.join(tmpdir(), `certkeeper-deb-${process.pid}-${arch}`);
  rmSync(root, { recursive: true, force: true });
  const put = (target: string, from: { file?: string; text?: string }, mode = 0o644): void => {
    const file = path.join(root, target);
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
    if (from.file) copyFileSync(from.file, file);
    else writeFileSync(file, from.text!);
    chmodSync(file, mode);
  };
  try {
    put('usr/bin/certkeeper', { file: executable }, 0o755);
    put(`lib/systemd/system/${UNIT}`, { file: path.join(ROOT, 'agent', 'examples', UNIT) });
    const doc = 'usr/share/doc/certkeeper';
    put(`${doc}/examples/agent.config.json`, {
      file: path.join(ROOT, 'agent', 'examples', 'agent.config.json'),
    });
    put(`${doc}/README.md`, { file: path.join(ROOT, 'agent', 'README.md') });
    if (existsSync(`${CLI_BUNDLE}.LEGAL.txt`)) {
      put(`${doc}/THIRD-PARTY-NOTICES.txt`, { file: `${CLI_BUNDLE}.LEGAL.txt` });
    }
    const installedKb = Math.ceil(
      [`usr/bin/certkeeper`].reduce((sum, f) => sum + statSync(path.join(root, f)).size, 0) / 1024,
    );
    put('DEBIAN/control', { text: control(version, arch, installedKb) });
    put('DEBIAN/postinst', { text: POSTINST }, 0o755);
    put('DEBIAN/prerm', { text: PRERM }, 0o755);
    put('DEBIAN/postrm', { text: POSTRM }, 0o755);
    mkdirSync(outDir, { recursive: true });
    const file = debPath(outDir, version, arch);
    // Not execFileSync: the tests build packages inside a vitest worker, which must stay responsive.
    await execFileAsync('dpkg-deb', [
      '--root-owner-group',
      `-Z${options.compression ?? 'xz'}`,
      '--build',
      root,
      file,
    ]);
    return { file, bytes: statSync(file).size };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      arch: { type: 'string' },
      version: { type: 'string' },
      out: { type: 'string' },
      build: { type: 'boolean', default: false },
      compression: { type: 'string', default: 'xz' },
    },
  });
  const arch = (values.arch ?? hostArch()) as Arch;
  if (arch !== 'x64' && arch !== 'arm64') throw new Error(`--arch ${String(arch)}: x64 or arm64`);
  const started = performance.now();
  if (values.build) {
    await bundleCli();
    await buildSea(arch);
  }
  const compression = values.compression as DebOptions['compression'];
  const deb = await buildDeb({ arch, version: values.version, outDir: values.out, compression });
  console.log(
    `${path.relative(process.cwd(), deb.file)}  ${(deb.bytes / 1024 / 1024).toFixed(1)} MiB, ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
