import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', 'dist/', '.peers/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
      // `import { z }` makes esbuild keep all of zod (every locale, ~450 KB) in each Lambda;
      // the namespace import lets it keep only what is used.
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "ImportDeclaration[source.value='zod'][importKind!='type'] > ImportSpecifier[imported.name='z']",
          message: "Use import * as z from 'zod' (bundle size).",
        },
      ],
    },
  },
  {
    // The dashboard page shows names, errors and problem details that agents and CAs wrote:
    // nothing of it may ever be parsed as HTML (cli/dashboard/page/dom.ts builds every node).
    files: ['cli/dashboard/page/**/*.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        ...['innerHTML', 'outerHTML', 'insertAdjacentHTML', 'srcdoc'].map((property) => ({
          property,
          message: 'Build nodes with h() from dom.ts: data on this page is attacker-influenced.',
        })),
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector:
            'CallExpression[callee.property.name=/^(write|writeln|createContextualFragment|parseFromString|setHTMLUnsafe)$/]',
          message: 'Build nodes with h() from dom.ts: data on this page is attacker-influenced.',
        },
        {
          selector: "CallExpression[callee.name='eval'], NewExpression[callee.name='Function']",
          message: 'No eval.',
        },
      ],
    },
  },
  {
    // CommonJS modules the bundles take in place of a dependency's (infra/bundle/modules/).
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { module: 'writable', exports: 'writable' } },
  },
);
