/**
 * `install`: Pebble and AWS's aws_signing_helper (go install), moto server (Python venv),
 * cfn-lint and checkov (a second venv, for the template lint) and DynamoDB Local (Maven
 * Central, with its sqlite4java native libraries) into the cache directory, and from the OS
 * packages when missing: nginx with its stream module and HAProxy (see nginx.ts), and
 * chromium for the dashboard's browser test (chromium.ts). Idempotent: each part is checked and
 * skipped when already there at the pinned version.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  DYNAMODB_LOCAL_ARTIFACT,
  CFN_LINT_VERSION,
  CHECKOV_VERSION,
  DYNAMODB_LOCAL_VERSION,
  MOTO_VERSION,
  PEBBLE_MODULE,
  PEBBLE_VERSION,
  cachePaths,
  repoRoot,
  type CachePaths,
} from './config.js';
import { installDebianPackages } from './apt.js';
import { CHROMIUM_PACKAGES, chromiumInstalled, chromiumPath } from './chromium.js';
import { goBinaryIs, goCommand } from './go.js';
import { NGINX_ELSEWHERE, NGINX_PACKAGES, nginxInstalled } from './nginx.js';
import { installSigningHelper, signingHelperInstalled } from './signing-helper.js';
import { exec, execOk, log, withFileLock } from './util.js';

const MINUTE = 60_000;
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';
const DYNAMODB_MARKER = '.installed';
const DYNAMODB_MARKER_TEXT = `${DYNAMODB_LOCAL_ARTIFACT}\n`;
const LAUNCHER_SOURCE = join(repoRoot, 'scripts', 'peers', 'LocalhostDynamoDB.java');
const LAUNCHER_MARKER = '.source-sha256';

export interface InstallStatus {
  readonly pebble: boolean;
  readonly moto: boolean;
  readonly dynamodb: boolean;
  readonly nginx: boolean;
  /** Debian's chromium, which the dashboard's browser test drives. */
  readonly chromium: boolean;
  /** cfn-lint and checkov, which test/infra runs on the synthesized template. */
  readonly lint: boolean;
  /** AWS's aws_signing_helper, the reference client of the Roles Anywhere stand-in. */
  readonly signingHelper: boolean;
}

/** What is already installed at the pinned versions (cheap checks, no network). */
export async function installStatus(paths: CachePaths = cachePaths()): Promise<InstallStatus> {
  const [pebble, moto, lint, signingHelper] = await Promise.all([
    pebbleInstalled(paths),
    motoInstalled(paths),
    lintInstalled(paths),
    signingHelperInstalled(paths),
  ]);
  return {
    pebble,
    moto,
    lint,
    signingHelper,
    dynamodb: dynamodbInstalled(paths) && launcherCurrent(paths),
    nginx: nginxInstalled(),
    chromium: chromiumInstalled(),
  };
}

export async function install(paths: CachePaths = cachePaths()): Promise<void> {
  mkdirSync(paths.home, { recursive: true });
  await withFileLock(join(paths.home, '.install.lock'), 'the peers install lock', 15 * MINUTE, async () => {
    const status = await installStatus(paths);
    const started = Date.now();
    // Independent downloads: run them side by side.
    await Promise.all([
      status.pebble ? undefined : installPebble(paths),
      status.moto ? undefined : installMoto(paths),
      status.dynamodb ? undefined : installDynamodb(paths),
      status.nginx && status.chromium ? undefined : installSystemPackages(status),
      status.lint ? undefined : installLint(paths),
      // Only the Roles Anywhere stand-in's tests need it: a machine without a C compiler
      // still gets every other peer, and those tests say what is missing.
      status.signingHelper
        ? undefined
        : installSigningHelper(paths).catch((err: Error) =>
            log(`warning: aws_signing_helper not installed, its tests will fail: ${err.message}`),
          ),
    ]);
    if (Object.values(status).every(Boolean)) {
      log(`everything installed in ${paths.home}`);
    } else {
      log(`install done in ${((Date.now() - started) / 1000).toFixed(1)}s (${paths.home})`);
    }
  });
}

/** nginx, HAProxy and chromium from the OS packages, in one apt-get run. */
async function installSystemPackages(status: InstallStatus): Promise<void> {
  const packages = [...(status.nginx ? [] : NGINX_PACKAGES), ...(status.chromium ? [] : CHROMIUM_PACKAGES)];
  await installDebianPackages(
    packages,
    `${NGINX_ELSEWHERE}; for chromium, set CERTKEEPER_CHROMIUM to a Chromium or Chrome binary`,
  );
  if (!status.nginx && !nginxInstalled())
    throw new Error(
      `nginx, its stream module or haproxy is missing after installing ${NGINX_PACKAGES.join(' ')} (looked in PATH, /usr/sbin, /usr/lib/nginx/modules)`,
    );
  if (!status.chromium && !chromiumInstalled())
    throw new Error(`${chromiumPath()} is missing after installing ${CHROMIUM_PACKAGES.join(' ')}`);
  log('system packages installed: nginx (with its stream module), HAProxy, chromium');
}

// ---------------------------------------------------------------------------------------
// Pebble

async function pebbleInstalled(paths: CachePaths): Promise<boolean> {
  if (!existsSync(paths.pebble)) return false;
  const pinned = await goBinaryIs(paths.pebble, PEBBLE_MODULE, PEBBLE_VERSION);
  if (pinned === undefined)
    log(`cannot check the Pebble version (no go toolchain?): using ${paths.pebble} as is`);
  return pinned ?? true;
}

async function installPebble(paths: CachePaths): Promise<void> {
  log(`installing Pebble ${PEBBLE_VERSION} with go install (needs Go >= 1.24)`);
  const gobin = join(paths.home, 'bin');
  mkdirSync(gobin, { recursive: true });
  await execOk(goCommand(), ['install', `${PEBBLE_MODULE}/cmd/pebble@${PEBBLE_VERSION}`], {
    env: { ...process.env, GOBIN: gobin, CGO_ENABLED: '0' },
    timeoutMs: 15 * MINUTE,
    what: `go install pebble@${PEBBLE_VERSION}`,
  });
  if (!(await pebbleInstalled(paths))) throw new Error(`Pebble is not at ${paths.pebble} after go install`);
  log('Pebble installed');
}

// ---------------------------------------------------------------------------------------
// moto

async function motoInstalled(paths: CachePaths): Promise<boolean> {
  if (!existsSync(paths.motoServer) || !existsSync(paths.venvPython)) return false;
  const probe = await exec(
    paths.venvPython,
    ['-c', "import importlib.metadata as m, flask, flask_cors; print(m.version('moto'))"],
    { timeoutMs: 60_000 },
  ).catch(() => undefined);
  return probe !== undefined && probe.code === 0 && probe.stdout.trim() === MOTO_VERSION;
}

async function installMoto(paths: CachePaths): Promise<void> {
  log(`installing moto[server]==${MOTO_VERSION} into ${paths.venv}`);
  const python = process.env.CERTKEEPER_PYTHON ?? 'python3';
  // --clear repairs a venv whose interpreter went away; a healthy one is only upgraded.
  const healthy =
    existsSync(paths.venvPython) &&
    (await exec(paths.venvPython, ['-c', 'pass'], { timeoutMs: 30_000 }).catch(() => undefined))?.code === 0;
  if (!healthy) {
    await execOk(python, ['-m', 'venv', '--clear', paths.venv], {
      timeoutMs: 5 * MINUTE,
      what: 'creating the moto venv',
    });
  }
  await execOk(
    paths.venvPython,
    ['-m', 'pip', 'install', '--disable-pip-version-check', '--quiet', `moto[server]==${MOTO_VERSION}`],
    { timeoutMs: 15 * MINUTE, what: `pip install moto[server]==${MOTO_VERSION}` },
  );
  if (!(await motoInstalled(paths)))
    throw new Error(`moto ${MOTO_VERSION} is not in ${paths.venv} after pip install`);
  log('moto installed');
}

// ---------------------------------------------------------------------------------------
// cfn-lint and checkov (template lint, test/infra/lint.test.ts)

const LINT_REQUIREMENTS = [`cfn-lint==${CFN_LINT_VERSION}`, `checkov==${CHECKOV_VERSION}`];

async function lintInstalled(paths: CachePaths): Promise<boolean> {
  if (!existsSync(paths.cfnLint) || !existsSync(paths.checkov)) return false;
  const probe = await exec(
    join(paths.lintVenv, 'bin', 'python'),
    ['-c', "import importlib.metadata as m; print(m.version('cfn-lint'), m.version('checkov'))"],
    { timeoutMs: 60_000 },
  ).catch(() => undefined);
  return probe?.code === 0 && probe.stdout.trim() === `${CFN_LINT_VERSION} ${CHECKOV_VERSION}`;
}

/** A venv of its own: checkov pins boto3 and friends, which must not move moto's. */
async function installLint(paths: CachePaths): Promise<void> {
  log(`installing ${LINT_REQUIREMENTS.join(' ')} into ${paths.lintVenv}`);
  const python = process.env.CERTKEEPER_PYTHON ?? 'python3';
  const venvPython = join(paths.lintVenv, 'bin', 'python');
  const healthy =
    existsSync(venvPython) &&
    (await exec(venvPython, ['-c', 'pass'], { timeoutMs: 30_000 }).catch(() => undefined))?.code === 0;
  if (!healthy) {
    await execOk(python, ['-m', 'venv', '--clear', paths.lintVenv], {
      timeoutMs: 5 * MINUTE,
      what: 'creating the lint venv',
    });
  }
  await execOk(
    venvPython,
    ['-m', 'pip', 'install', '--disable-pip-version-check', '--quiet', ...LINT_REQUIREMENTS],
    { timeoutMs: 15 * MINUTE, what: `pip install ${LINT_REQUIREMENTS.join(' ')}` },
  );
  if (!(await lintInstalled(paths)))
    throw new Error(`${LINT_REQUIREMENTS.join(' ')} not in ${paths.lintVenv} after pip install`);
  log('cfn-lint and checkov installed');
}

// ---------------------------------------------------------------------------------------
// DynamoDB Local

function dynamodbInstalled(paths: CachePaths): boolean {
  try {
    return (
      readFileSync(join(paths.dynamodbDir, DYNAMODB_MARKER), 'utf8') === DYNAMODB_MARKER_TEXT &&
      existsSync(join(paths.dynamodbDir, `DynamoDBLocal-${DYNAMODB_LOCAL_VERSION}.jar`))
    );
  } catch {
    return false;
  }
}

/** The sqlite4java native library for this platform, as Maven names it. */
function nativeLibPrefix(): string | undefined {
  if (process.platform === 'linux' && process.arch === 'x64') return 'libsqlite4java-linux-amd64';
  if (process.platform === 'linux' && process.arch === 'ia32') return 'libsqlite4java-linux-i386';
  if (process.platform === 'darwin') return 'libsqlite4java-osx';
  return undefined;
}

async function installDynamodb(paths: CachePaths): Promise<void> {
  if (!dynamodbInstalled(paths)) await installDynamodbJars(paths);
  if (!launcherCurrent(paths)) await compileLauncher(paths);
}

async function installDynamodbJars(paths: CachePaths): Promise<void> {
  log(`installing DynamoDB Local ${DYNAMODB_LOCAL_VERSION} from Maven Central (needs Java 17 and mvn)`);
  await checkJava();
  const staging = `${paths.dynamodbDir}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    // A throwaway pom whose only dependency is DynamoDB Local: copy-dependencies then lays
    // the jar, every transitive jar and the sqlite4java native libraries (.so/.dylib/.dll
    // artifacts) flat in one directory, which is both the classpath and java.library.path.
    const [groupId, artifactId, version] = DYNAMODB_LOCAL_ARTIFACT.split(':');
    const pomDir = join(staging, 'pom');
    mkdirSync(pomDir);
    writeFileSync(
      join(pomDir, 'pom.xml'),
      `<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.certkeeper</groupId>
  <artifactId>dynamodb-local-peer</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>${groupId}</groupId>
      <artifactId>${artifactId}</artifactId>
      <version>${version}</version>
    </dependency>
  </dependencies>
</project>
`,
    );
    await execOk(
      'mvn',
      [
        '-q',
        '-B',
        '-f',
        join(pomDir, 'pom.xml'),
        `${DEPENDENCY_PLUGIN}:copy-dependencies`,
        `-DoutputDirectory=${staging}`,
        '-DincludeScope=runtime',
      ],
      { timeoutMs: 15 * MINUTE, what: `mvn copy-dependencies of ${DYNAMODB_LOCAL_ARTIFACT}` },
    );
    rmSync(pomDir, { recursive: true, force: true });
    const files = readdirSync(staging);
    if (!files.includes(`DynamoDBLocal-${DYNAMODB_LOCAL_VERSION}.jar`)) {
      throw new Error(`DynamoDBLocal-${DYNAMODB_LOCAL_VERSION}.jar missing after mvn copy-dependencies`);
    }
    const prefix = nativeLibPrefix();
    if (prefix === undefined || !files.some((f) => f.startsWith(prefix))) {
      log(
        `warning: no sqlite4java native library for ${process.platform}/${process.arch} on Maven Central; ` +
          'DynamoDB Local will fail to store anything',
      );
    }
    writeFileSync(join(staging, DYNAMODB_MARKER), DYNAMODB_MARKER_TEXT);
    rmSync(paths.dynamodbDir, { recursive: true, force: true });
    renameSync(staging, paths.dynamodbDir);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  log('DynamoDB Local installed');
}

function launcherSourceHash(): string {
  return createHash('sha256').update(readFileSync(LAUNCHER_SOURCE)).digest('hex');
}

/** The compiled launcher matches scripts/peers/LocalhostDynamoDB.java. */
export function launcherCurrent(paths: CachePaths): boolean {
  try {
    return (
      readFileSync(join(paths.dynamodbLauncherDir, LAUNCHER_MARKER), 'utf8') === launcherSourceHash() &&
      existsSync(join(paths.dynamodbLauncherDir, 'LocalhostDynamoDB.class'))
    );
  } catch {
    return false;
  }
}

/**
 * Compiles LocalhostDynamoDB.java (binds DynamoDB Local to 127.0.0.1) against the jars.
 * Without a javac (a JRE only), start falls back to DynamoDB Local's own ServerRunner,
 * which listens on every interface, and says so.
 */
async function compileLauncher(paths: CachePaths): Promise<void> {
  const outDir = paths.dynamodbLauncherDir;
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const hash = launcherSourceHash();
  const result = await exec(
    'javac',
    ['-nowarn', '-d', outDir, '-cp', join(paths.dynamodbDir, '*'), LAUNCHER_SOURCE],
    { timeoutMs: 5 * MINUTE },
  ).catch((err: Error) => ({ code: -1, stdout: '', stderr: err.message }));
  if (result.code !== 0) {
    rmSync(outDir, { recursive: true, force: true });
    log(
      'warning: cannot compile the DynamoDB Local launcher (is a JDK with javac installed?); ' +
        `DynamoDB Local will listen on all interfaces:\n${result.stderr.trim()}`,
    );
    return;
  }
  writeFileSync(join(outDir, LAUNCHER_MARKER), hash);
}

async function checkJava(): Promise<void> {
  const result = await exec('java', ['-version'], { timeoutMs: 60_000 }).catch((err: Error) => {
    throw new Error(`DynamoDB Local needs Java 17 or newer: ${err.message}`);
  });
  const match = /version "(\d+)/.exec(result.stderr + result.stdout);
  const major = match?.[1] === undefined ? NaN : Number.parseInt(match[1], 10);
  if (!(major >= 17)) {
    throw new Error(`DynamoDB Local needs Java 17 or newer; java -version says:\n${result.stderr.trim()}`);
  }
}
