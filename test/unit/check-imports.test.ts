// The CI import-direction check (scripts/check-imports.ts): clean on this tree, and it names a
// planted upward import and a planted cycle in a temporary tree.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { checkImports, importsOf } from '../../scripts/check-imports.ts';

const SCRIPT = join(import.meta.dirname, '..', '..', 'scripts', 'check-imports.ts');
const SRC = join(import.meta.dirname, '..', '..', 'src');

describe('scripts/check-imports.ts', () => {
  let dir: string;
  const write = async (path: string, text: string): Promise<void> => {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shoal-check-imports-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('finds static, re-export, multi-line, type-only and dynamic imports, not commented ones', () => {
    const source = [
      "import { a } from './a.ts';",
      "import type {\n  B,\n  C,\n} from '../b/c.ts';",
      "export * from './d.ts';",
      "const e = await import('./e.ts');",
      "import 'node:fs';",
      "// import { f } from './f.ts';",
      "/* import { g } from './g.ts'; */",
    ].join('\n');
    assert.deepEqual(importsOf(source), ['./a.ts', '../b/c.ts', './d.ts', './e.ts']);
  });

  test('the project tree is clean', () => {
    assert.deepEqual(checkImports(SRC), []);
  });

  test('a planted import back up the layer order fails, naming both files and the parts', async () => {
    await write('tree1/oci/digest.ts', 'export const x = 1;\n');
    await write('tree1/store/blobs.ts', "import { x } from '../oci/digest.ts';\nimport { y } from '../http/app.ts';\nexport const z = x + y;\n");
    await write('tree1/http/app.ts', "export const y = 2;\n");
    const problems = checkImports(join(dir, 'tree1'));
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.kind, 'upward');
    assert.match(problems[0]!.message, /store\/blobs\.ts imports http\/app\.ts: store may not depend on http/);
  });

  test('http importing store fails, whichever file does it (the peer data plane too)', async () => {
    await write('tree4/store/blobs.ts', 'export const b = 1;\n');
    await write('tree4/http/routes/uploads.ts', "import { b } from '../../store/blobs.ts';\nexport const u = b;\n");
    await write('tree4/http/peer-app.ts', "import { b } from '../store/blobs.ts';\nexport const p = b;\n");
    const problems = checkImports(join(dir, 'tree4'));
    assert.deepEqual(problems.map((p) => p.kind), ['forbidden', 'forbidden']);
    assert.deepEqual(problems.map((p) => p.message.split(' ')[0]).sort(), ['http/peer-app.ts', 'http/routes/uploads.ts']);
  });

  test('a planted cycle inside one part fails; the script exits 1 and names it', async () => {
    await write('tree2/cli/a.ts', "import { b } from './b.ts';\nexport const a = 1 + b;\n");
    await write('tree2/cli/b.ts', "import type { c } from './c.ts';\nexport const b = 2;\n");
    await write('tree2/cli/c.ts', "import { a } from './a.ts';\nexport const c = a;\n");
    const problems = checkImports(join(dir, 'tree2'));
    assert.deepEqual(problems.map((p) => p.kind), ['cycle']);
    assert.match(problems[0]!.message, /cli\/a\.ts, cli\/b\.ts, cli\/c\.ts/);
    await assert.rejects(promisify(execFile)(process.execPath, [SCRIPT, join(dir, 'tree2')]), (error: { code?: number; stderr?: string }) => {
      assert.equal(error.code, 1);
      assert.match(error.stderr ?? '', /import cycle among/);
      return true;
    });
  });

  test('a folder outside the layer list is reported, so a new part gets a place in the order', async () => {
    await write('tree3/push/service.ts', 'export const s = 1;\n');
    assert.deepEqual(checkImports(join(dir, 'tree3')).map((p) => p.kind), ['unknown-part']);
  });
});
