// The runtime exports of the addon match binding.d.ts (parsed with the TypeScript compiler API).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { native, packageRoot } from '../lib/native.js';

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

  it('declares exactly the methods and getters of each native class', () => {
    const { classMethods } = declaredMembers();
    expect(Object.keys(classMethods).sort()).toEqual(['NativeAbortFlag', 'NativeCache', 'NativeLatents', 'NativeModel', 'NativeVae']);
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
