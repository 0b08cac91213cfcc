// Reads the YAML config file into raw text values keyed by setting, with the line each came from.
// Which keys exist is derived from the schema; anything else is an error, so a typo is never ignored.
import { readFile } from 'node:fs/promises';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type Pair } from 'yaml';
import { ConfigError } from './errors.ts';
import { SETTING_IDS, SETTINGS, UPSTREAMS_LIST_KEY, type SettingId } from './schema.ts';

export interface FileValue {
  /** The text as written; every scalar is read as a string (YAML failsafe schema), so `0123` stays `0123`. */
  readonly raw: string;
  /** Where it is in the file, for messages: `http.addr`, `upstreams[1].url`. */
  readonly key: string;
  readonly line: number;
}

/** The keys of one upstream: `url`, `username` ... */
export type FileValues = Partial<Record<SettingId, FileValue>>;
/** Each setting's value; several only for a repeatable setting written as a list (`swarm.bootstrap`). */
export type FileValueLists = Partial<Record<SettingId, readonly FileValue[]>>;

export interface ConfigFile {
  readonly path: string;
  /** Settings other than the upstream ones. */
  readonly values: FileValueLists;
  /** From `upstreams:` or from the `proxy.remoteurl` shorthand; undefined when the file names none. Each has `upstream` (its URL). */
  readonly upstreams: readonly FileValues[] | undefined;
}

const LIST_ENTRY_PREFIX = `${UPSTREAMS_LIST_KEY}[].`;
/** `http.addr` → listen; `proxy.remoteurl` → upstream ... */
const LEAVES = new Map<string, SettingId>();
/** `url` → upstream, for entries of the `upstreams:` list. */
const ENTRY_KEYS = new Map<string, SettingId>();
for (const id of SETTING_IDS) {
  for (const path of SETTINGS[id].yaml) {
    if (path.startsWith(LIST_ENTRY_PREFIX)) ENTRY_KEYS.set(path.slice(LIST_ENTRY_PREFIX.length), id);
    else LEAVES.set(path, id);
  }
}
const UPSTREAM_SETTINGS = new Set(ENTRY_KEYS.values());
/** Mappings that may appear on the way to a leaf: `http`, `storage`, `storage.filesystem` ... */
const BRANCHES = new Set<string>();
for (const path of LEAVES.keys()) {
  const parts = path.split('.');
  for (let depth = 1; depth < parts.length; depth++) BRANCHES.add(parts.slice(0, depth).join('.'));
}

/** The keys allowed directly under `prefix` ('' for the top), for "unknown key" messages. */
function keysUnder(prefix: string): string[] {
  const top = prefix === '';
  const children = [...LEAVES.keys(), ...BRANCHES, ...(top ? [UPSTREAMS_LIST_KEY] : [])]
    .filter((path) => top || path.startsWith(`${prefix}.`))
    .map((path) => (top ? path : path.slice(prefix.length + 1)).split('.')[0] ?? '');
  return [...new Set(children)];
}

export async function readConfigFile(path: string, describePath: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`invalid ${describePath}: cannot read config file ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  const lines = new LineCounter();
  const document = parseDocument(text, { schema: 'failsafe', lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const lineOf = (node: unknown): number => lines.linePos((node as Node | null)?.range?.[0] ?? 0).line;
  const fail = (line: number, message: string): never => {
    throw new ConfigError(`config file ${path}:${line}: ${message}`);
  };
  const [syntaxError] = document.errors;
  if (syntaxError !== undefined) fail(lines.linePos(syntaxError.pos[0]).line, `malformed YAML: ${syntaxError.message.split('\n')[0]}`);

  const keyText = (pair: Pair): string => (isScalar(pair.key) ? String(pair.key.value) : fail(lineOf(pair.key), 'expected plain text keys'));
  const fileValue = (pair: Pair, key: string): FileValue => {
    const { value } = pair;
    // An empty value (`addr:`) is the empty string; the setting's parser says what it expected instead.
    if (value !== null && !isScalar(value)) fail(lineOf(pair.key), `${key}: expected a single value, not a list or mapping`);
    return { raw: isScalar(value) ? String(value.value ?? '') : '', key, line: lineOf(pair.key) };
  };
  /** A repeatable setting: a list of values, or one value; nothing (`bootstrap:`) is the empty list. */
  const fileList = (pair: Pair, key: string): FileValue[] => {
    const { value } = pair;
    if (value === null || (isScalar(value) && value.value === '')) return [];
    if (!isSeq(value)) return [fileValue(pair, key)];
    return value.items.map((item, index) => {
      const where = `${key}[${index}]`;
      if (item !== null && !isScalar(item)) fail(lineOf(item), `${where}: expected a single value, not a list or mapping`);
      return { raw: isScalar(item) ? String(item.value ?? '') : '', key: where, line: lineOf(item ?? pair.key) };
    });
  };

  const values: FileValueLists = {};
  const shorthand: FileValues = {};
  let list: FileValues[] | undefined;

  const walk = (node: unknown, prefix: string): void => {
    if (!isMap(node)) return fail(lineOf(node), `${prefix || 'top level'}: expected a mapping with keys ${keysUnder(prefix).join(', ')}`);
    for (const pair of node.items) {
      const name = keyText(pair);
      const key = prefix === '' ? name : `${prefix}.${name}`;
      const id = LEAVES.get(key);
      if (key === UPSTREAMS_LIST_KEY) {
        list = readList(pair.value);
      } else if (id !== undefined) {
        if (UPSTREAM_SETTINGS.has(id)) shorthand[id] = fileValue(pair, key);
        else values[id] = SETTINGS[id].repeatable ? fileList(pair, key) : [fileValue(pair, key)];
      } else if (BRANCHES.has(key)) {
        // `proxy:` with nothing under it is an empty section, not a mistake.
        const empty = pair.value === null || (isScalar(pair.value) && pair.value.value === '');
        if (!empty) walk(pair.value, key);
      } else {
        fail(lineOf(pair.key), `unknown key "${key}" (known ${prefix === '' ? 'at the top' : `under ${prefix}`}: ${keysUnder(prefix).join(', ')})`);
      }
    }
  };

  const readList = (node: unknown): FileValues[] => {
    if (!isSeq(node)) return fail(lineOf(node), `${UPSTREAMS_LIST_KEY}: expected a list of {url, username, password}`);
    return node.items.map((item, index) => {
      const where = `${UPSTREAMS_LIST_KEY}[${index}]`;
      if (!isMap(item)) return fail(lineOf(item), `${where}: expected a mapping such as {url: http://host:5000}`);
      const entry: FileValues = {};
      for (const pair of item.items) {
        const name = keyText(pair);
        const id = ENTRY_KEYS.get(name);
        if (id === undefined) return fail(lineOf(pair.key), `unknown key "${where}.${name}" (known: ${[...ENTRY_KEYS.keys()].join(', ')})`);
        entry[id] = fileValue(pair, `${where}.${name}`);
      }
      if (entry.upstream === undefined) fail(lineOf(item), `${where}: expected a url`);
      return entry;
    });
  };

  if (document.contents !== null) walk(document.contents, '');
  const [firstShorthand] = Object.values(shorthand);
  if (firstShorthand !== undefined) {
    if (list !== undefined) fail(firstShorthand.line, `${firstShorthand.key} and ${UPSTREAMS_LIST_KEY}: name upstreams in one place, not both`);
    if (shorthand.upstream === undefined) fail(firstShorthand.line, `${firstShorthand.key} is set but ${SETTINGS.upstream.yaml[0]} is not`);
    list = [shorthand];
  }
  return { path, values, upstreams: list };
}
