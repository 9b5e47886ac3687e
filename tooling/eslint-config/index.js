// Shared lint rules for every package. Type-unaware on purpose: it runs in seconds on a clean clone.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export const config = tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', '**/.turbo/**', '**/coverage/**', 'packages/guest/build/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        performance: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportAllDeclaration', message: 'List exports explicitly (house style: no export *).' },
        { selector: 'ExportDefaultDeclaration', message: 'No default exports (house style).' },
      ],
    },
  },
  {
    // Libraries never print or exit: only the CLI and scripts own the console.
    files: ['packages/*/src/**/*.ts'],
    rules: {
      'no-console': 'error',
      'no-restricted-properties': ['error', { object: 'process', property: 'exit', message: 'Libraries never exit.' }],
    },
  },
  {
    files: ['eslint.config.js', '**/vitest.config.ts', '**/vitest.workspace.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
);
