// ESLint with the TypeScript rules; tsc (npm run lint runs both) checks the types themselves.
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** An import pattern for @typescript-eslint/no-restricted-imports: a regex on the import string and why not. */
const banned = (regex, message, allowTypeImports = false) => ({ regex, message, allowTypeImports });

// The layers, lowest first: src/kernel; workflows (deterministic, in Temporal's sandbox); the plugins
// (activities/<seam>/<type>/); the rest of activities/, src/config, src/client; src/cli and workers on top.
// Each rule names what a directory must not reach up to; `npm run lint` fails on such an import.
/** Nothing imports a plugin's internals: only its index (the map's entry) or its public.ts. */
const internals = banned(
  '(^|/)(stores|targets|consumers)/[^/]+/(?!public$)[^/]+$',
  'nothing imports a plugin’s internals: import its index (the map’s entry) or its public.ts',
);
const PLUGINS = ['activities/stores/*/**/*.ts', 'activities/targets/*/**/*.ts', 'activities/consumers/*/**/*.ts'];

// Each file gets one list (a later config object would replace an earlier one's list, not add to it).
const layers = [
  {
    files: ['workflows/**/*.ts'],
    patterns: [
      banned(
        '(^|/)(activities|workers)/',
        'workflows run in the sandbox: import activity types only (`import type`), never their implementations',
        true,
      ),
      banned(
        '(^|/)src/(?!kernel/)',
        'workflows may import src/kernel only (and types from elsewhere): the rest of src/ is not sandbox-safe',
        true,
      ),
      banned('^node:', 'workflows run in the sandbox: no Node modules'),
      internals,
    ],
  },
  {
    files: ['src/kernel/**/*.ts'],
    patterns: [
      banned('(^|/)(activities|workers|workflows)/', 'src/kernel is the bottom layer: it imports nothing above it'),
      banned('(^|/)src/(cli|client|config|listener|reader|stack|demo)/', 'src/kernel imports nothing above it'),
      banned('^\\.\\./(cli|client|listener|reader|stack|demo)/', 'src/kernel imports nothing above it'),
      banned('^\\.\\./config/', 'src/kernel may take types from src/config, nothing else', true),
      internals,
    ],
  },
  {
    files: PLUGINS,
    patterns: [
      banned('(^|/)(src/(cli|client)|workers)/', 'a plugin is used by the CLI, the client and the worker; it never imports them'),
      banned('^\\.\\./(?!\\.)[^/]+/', 'a plugin never imports another plugin’s internals: import its index (or its public.ts)'),
      internals,
    ],
  },
  {
    // A plugin's folder is its own: others import its index (the map's entry) or its public.ts, nothing else.
    files: ['**/*.ts'],
    ignores: [...PLUGINS, 'workflows/**', 'src/kernel/**', 'test/**', '**/*.test.ts'],
    patterns: [internals],
  },
].map(({ files, ignores, patterns }) => ({
  files,
  ...(ignores ? { ignores } : {}),
  rules: { '@typescript-eslint/no-restricted-imports': ['error', { patterns }] },
}));

export default tseslint.config(
  { ignores: ['node_modules/', '.venv', '.tools', '.rotator/', 'dist/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
    },
  },
  {
    // Type-aware: a promise nobody awaits loses its rejection (what the Temporal samples lint for).
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: dirname(fileURLToPath(import.meta.url)) } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
    },
  },
  ...layers,
  {
    files: ['**/*.js'],
    languageOptions: { globals: { module: 'writable', require: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
