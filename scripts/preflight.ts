// Runs before `npm test`. The suite uses real parts (Debian packages, a running dockerd, root);
// without them it would fail file after file, each naming one part. This names them all at once,
// with the one command that installs them. The package list lives in test-all.sh, read from there.
import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const TEST_ALL_SCRIPT = resolve(import.meta.dirname, 'test-all.sh');
export const INSTALL_COMMAND = 'npm run test:all';

export interface Requirement {
  /** Debian package */
  readonly pkg: string;
  /** Programs that show it is installed, any one will do: a path, or a name looked up on PATH */
  readonly programs: readonly string[];
  /** Environment variable the tests read instead of the program, when set */
  readonly override?: string;
}

export interface Machine {
  readonly env: NodeJS.ProcessEnv;
  readonly uid: number | undefined;
  /** Whether a docker daemon answers; asked only when the docker CLI is there */
  readonly dockerAnswers: () => Promise<boolean>;
}

/** The REQUIREMENTS='...' block of test-all.sh: `package programs [override]` a line. */
export function parseRequirements(script: string): Requirement[] {
  const block = /^REQUIREMENTS='\n([^']*)'$/m.exec(script);
  if (!block) throw new Error(`no REQUIREMENTS='...' block in ${TEST_ALL_SCRIPT}`);
  return block[1]!.split('\n').map((line) => line.trim().split(/\s+/)).filter((words) => words[0])
    .map(([pkg, programs, override]) => {
      if (!programs) throw new Error(`${TEST_ALL_SCRIPT}: package ${pkg} names no program`);
      return { pkg: pkg!, programs: programs.split('|'), ...(override ? { override } : {}) };
    });
}

const isExecutable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

export function hasProgram(program: string, env: NodeJS.ProcessEnv): boolean {
  if (program.includes('/')) return isExecutable(program);
  return (env.PATH ?? '').split(delimiter).some((dir) => dir !== '' && isExecutable(join(dir, program)));
}

export function missingPackages(requirements: readonly Requirement[], env: NodeJS.ProcessEnv): Requirement[] {
  return requirements.filter((req) => {
    const programs = req.override && env[req.override] ? [env[req.override]!] : req.programs;
    return !programs.some((program) => hasProgram(program, env));
  });
}

/** Each missing part as a person reads it; empty when the suite can run. */
export async function problems(requirements: readonly Requirement[], machine: Machine): Promise<string[]> {
  const missing = missingPackages(requirements, machine.env);
  const found: string[] = missing.map((req) => `${req.programs[0]} (Debian package ${req.pkg})`);
  const dockerMissing = missing.some((req) => req.programs.includes('docker'));
  if (!dockerMissing && !(await machine.dockerAnswers())) found.push('a docker daemon this user can reach (docker version got no answer)');
  if (machine.uid !== 0) found.push('root (network namespaces, tmpfs mounts)');
  return found;
}

export function report(found: readonly string[]): string {
  return [
    'npm test stops here: the whole suite needs what this machine lacks:',
    ...found.map((line) => `  - ${line}`),
    `Install and start it all, then run the suite (Debian/Ubuntu, as root or with sudo): ${INSTALL_COMMAND}`,
    'npm run test:fast runs the unit and API tests, which need none of it.',
  ].join('\n');
}

const dockerAnswers = (): Promise<boolean> => new Promise((done) => {
  execFile('docker', ['version', '--format', '{{.Server.Version}}'], { timeout: 20_000 }, (error) => done(error === null));
});

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const requirements = parseRequirements(readFileSync(TEST_ALL_SCRIPT, 'utf8'));
  const found = await problems(requirements, { env: process.env, uid: process.getuid?.(), dockerAnswers });
  if (found.length > 0) {
    console.error(report(found));
    process.exitCode = 1;
  }
}
