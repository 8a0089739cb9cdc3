// The runtime exports of the addon match binding.d.ts (parsed with the TypeScript compiler API).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { native, packageRoot } from '../lib/native.js';

function declaredMembers(): { binding: string[]; modelMethods: string[] } {
  const file = path.join(packageRoot(), 'binding.d.ts');
  const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  let binding: string[] = [];
  let modelMethods: string[] = [];
  src.forEachChild((node) => {
    if (ts.isInterfaceDeclaration(node) && node.name.text === 'NativeBinding') {
      binding = node.members.map((m) => (m.name as ts.Identifier).text);
    }
    if (ts.isClassDeclaration(node) && node.name?.text === 'NativeModel') {
      modelMethods = node.members.filter(ts.isMethodDeclaration).map((m) => (m.name as ts.Identifier).text);
    }
  });
  return { binding, modelMethods };
}

describe('binding.d.ts', () => {
  it('declares exactly the functions and classes the addon exports', () => {
    const { binding } = declaredMembers();
    expect(binding.length).toBeGreaterThan(3);
    expect(Object.keys(native()).sort()).toEqual([...binding].sort());
    for (const name of binding) expect(typeof (native() as unknown as Record<string, unknown>)[name], name).toBe('function');
  });

  it('declares exactly the methods of NativeModel', () => {
    const { modelMethods } = declaredMembers();
    const proto = native().NativeModel.prototype as object;
    const runtime = Object.getOwnPropertyNames(proto).filter((n) => n !== 'constructor');
    expect(runtime.sort()).toEqual([...modelMethods].sort());
  });

  it('NativeModel cannot be constructed from JS', () => {
    const Ctor = native().NativeModel as unknown as new () => unknown;
    expect(() => new Ctor()).toThrow(/loadModel/);
  });
});
