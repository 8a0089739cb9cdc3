// The runtime exports of the addon match binding.d.ts (parsed with the TypeScript compiler API); the shipped
// addon exports no test entry point, those are in the test addon only (test/helpers/test-native.ts).
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { native, packageRoot } from '../lib/native.js';
import { TEST_ENTRY_POINTS, testAddonNote, testAddonSkip, testNative } from './helpers/test-native.js';

function declaredMembers(): { binding: string[]; classMethods: Record<string, string[]> } {
  const file = path.join(packageRoot(), 'binding.d.ts');
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  let binding: string[] = [];
  const classMethods: Record<string, string[]> = {};
  src.forEachChild((node) => {
    if (ts.isInterfaceDeclaration(node) && node.name.text === 'NativeBinding') {
      binding = node.members.map((m) => (m.name as ts.Identifier).text);
    }
    if (ts.isClassDeclaration(node) && node.name) {
      classMethods[node.name.text] = node.members
        .filter((m) => ts.isMethodDeclaration(m) || ts.isGetAccessorDeclaration(m))
        .map((m) => (m.name as ts.Identifier).text);
    }
  });
  return { binding, classMethods };
}

describe('binding.d.ts', () => {
  it('declares exactly the functions and classes the addon exports', () => {
    const { binding } = declaredMembers();
    expect(binding.length).toBeGreaterThan(3);
    expect(Object.keys(native()).sort()).toEqual([...binding].sort());
    for (const name of binding) expect(typeof (native() as unknown as Record<string, unknown>)[name], name).toBe('function');
  });

  it('the product addon exports only that API: no test entry point (build/Release/skipdit.node and the one loaded)', () => {
    const { binding } = declaredMembers();
    for (const name of TEST_ENTRY_POINTS) expect(binding, `binding.d.ts declares ${name}`).not.toContain(name);
    const built = path.join(packageRoot(), 'build', 'Release', 'skipdit.node');
    const addons: Array<[string, object]> = [['native()', native()]];
    if (existsSync(built)) addons.push([built, createRequire(import.meta.url)(built) as object]);
    for (const [label, addon] of addons) {
      const keys = Object.keys(addon);
      expect(keys.filter((k) => (TEST_ENTRY_POINTS as readonly string[]).includes(k)), label).toEqual([]);
      expect(keys.sort(), label).toEqual([...binding].sort());
    }
  });

  it.skipIf(testAddonSkip)(`the test addon exports exactly the test entry points${testAddonNote}`, () => {
    expect(Object.keys(testNative()).sort()).toEqual([...TEST_ENTRY_POINTS].sort());
  });

  it('declares exactly the methods and getters of each native class', () => {
    const { classMethods } = declaredMembers();
    expect(Object.keys(classMethods).sort()).toEqual(['NativeAbortFlag', 'NativeCache', 'NativeLatents', 'NativeModel', 'NativeTextEncoder', 'NativeVae']);
    for (const [name, methods] of Object.entries(classMethods)) {
      const proto = (native() as unknown as Record<string, { prototype: object }>)[name].prototype;
      const runtime = Object.getOwnPropertyNames(proto).filter((n) => n !== 'constructor');
      expect(runtime.sort(), name).toEqual([...methods].sort());
    }
  });

  it('native classes cannot be constructed from JS', () => {
    const Model = native().NativeModel as unknown as new () => unknown;
    expect(() => new Model()).toThrow(/loadModel/);
    const Cache = native().NativeCache as unknown as new () => unknown;
    expect(() => new Cache()).toThrow(/createCache/);
    const Latents = native().NativeLatents as unknown as new () => unknown;
    expect(() => new Latents()).toThrow(/createLatents/);
  });
});
