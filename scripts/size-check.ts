// Lists what breaks the size rules of docs/development.md (no src file over 300 lines, no
// function over 80) and every import cycle in src/, read with the TypeScript compiler so that a
// function is a function and an import an import, not a regex's guess.
// Usage: npx tsx scripts/size-check.ts [DIR]   (exit 1 when anything is listed)
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const MAX_FILE_LINES = 300;
const MAX_FUNCTION_LINES = 80;

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out.sort();
}

function functionName(node: ts.Node, sf: ts.SourceFile): string {
  const named = node as { name?: ts.Node };
  if (named.name !== undefined) return named.name.getText(sf);
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent)) {
    return parent.name.getText(sf);
  }
  return '(anonymous)';
}

function isFunctionLike(node: ts.Node): boolean {
  return ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node) || ts.isArrowFunction(node)
    || ts.isFunctionExpression(node) || ts.isConstructorDeclaration(node)
    || ts.isGetAccessorDeclaration(node) || ts.isSetAccessorDeclaration(node);
}

interface Finding { readonly file: string; readonly what: string; readonly lines: number }

function longFunctions(file: string, sf: ts.SourceFile): Finding[] {
  const out: Finding[] = [];
  const visit = (node: ts.Node): void => {
    if (isFunctionLike(node)) {
      const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
      const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
      const lines = end - start + 1;
      if (lines > MAX_FUNCTION_LINES) {
        out.push({ file, what: `${functionName(node, sf)} (line ${start + 1})`, lines });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

interface Edge { readonly to: string; readonly typeOnly: boolean }

function imports(file: string, sf: ts.SourceFile): Edge[] {
  const out: Edge[] = [];
  for (const statement of sf.statements) {
    if (!ts.isImportDeclaration(statement) && !ts.isExportDeclaration(statement)) continue;
    const spec = statement.moduleSpecifier;
    if (spec === undefined || !ts.isStringLiteral(spec) || !spec.text.startsWith('.')) continue;
    const typeOnly = ts.isImportDeclaration(statement)
      ? statement.importClause?.isTypeOnly === true
        || (statement.importClause?.namedBindings !== undefined
          && ts.isNamedImports(statement.importClause.namedBindings)
          && statement.importClause.name === undefined
          && statement.importClause.namedBindings.elements.every((e) => e.isTypeOnly))
      : statement.isTypeOnly;
    out.push({ to: resolve(dirname(file), spec.text.replace(/\.js$/, '.ts')), typeOnly });
  }
  return out;
}

// Tarjan's strongly connected components: every component with more than one file is a cycle.
function cycles(graph: Map<string, Edge[]>): string[][] {
  let index = 0;
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const connect = (v: string): void => {
    indices.set(v, index); low.set(v, index); index++;
    stack.push(v); onStack.add(v);
    for (const { to } of graph.get(v) ?? []) {
      if (!graph.has(to)) continue;
      if (!indices.has(to)) { connect(to); low.set(v, Math.min(low.get(v)!, low.get(to)!)); }
      else if (onStack.has(to)) low.set(v, Math.min(low.get(v)!, indices.get(to)!));
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      for (let w = stack.pop()!; ; w = stack.pop()!) { onStack.delete(w); component.push(w); if (w === v) break; }
      if (component.length > 1) out.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!indices.has(v)) connect(v);
  return out;
}

const root = resolve(process.argv[2] ?? 'src');
const files = sourceFiles(root);
const graph = new Map<string, Edge[]>();
const bigFiles: Finding[] = [];
const bigFunctions: Finding[] = [];
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  if (lines > MAX_FILE_LINES) bigFiles.push({ file, what: '', lines });
  bigFunctions.push(...longFunctions(file, sf));
  graph.set(file, imports(file, sf));
}
const show = (file: string): string => relative(process.cwd(), file);
for (const f of bigFiles) console.log(`file over ${MAX_FILE_LINES}: ${show(f.file)} ${f.lines}`);
for (const f of bigFunctions) console.log(`function over ${MAX_FUNCTION_LINES}: ${show(f.file)} ${f.what} ${f.lines}`);
const found = cycles(graph);
for (const component of found) {
  // A cycle made only of `import type` edges costs nothing at run time but still ties the layers.
  const inside = new Set(component);
  const runtime = component.some((v) => (graph.get(v) ?? []).some((e) => inside.has(e.to) && !e.typeOnly));
  console.log(`import cycle${runtime ? '' : ' (types only)'}: ${component.map(show).join(' ↔ ')}`);
}
process.exitCode = bigFiles.length + bigFunctions.length + found.length > 0 ? 1 : 0;
