// One lint setup for the whole monorepo. Besides the usual TypeScript rules it enforces the layering
// from docs/adr/0005-lint-and-layering.md: routes never touch db/, domain/ stays pure, libs never import
// services, and contracts stay free of Node and runtime plumbing.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const restrict = (patterns) => ({
  'no-restricted-imports': ['error', { patterns }],
});

export default tseslint.config(
  { ignores: ['**/node_modules/**', '**/dist/**', '.data/**', 'coverage/**', '**/migrations/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: { process: 'readonly', console: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'error',
      'no-undef': 'off', // TypeScript checks this better (typescript-eslint's advice)
    },
  },
  {
    files: ['services/*/src/routes/**/*.ts'],
    rules: restrict([
      {
        group: ['**/db', '**/db/**'],
        message: 'Routes call use-cases; they never touch db/ (STYLE: thin routes).',
      },
      { group: ['postgres', 'drizzle-orm', 'drizzle-orm/*'], message: 'Routes never talk to the database.' },
    ]),
  },
  {
    // Fastify names an anonymous plugin after its source text, and @fastify/otel copies that name into
    // every handler span: name route plugins with routePlugin() from @offload/platform/http.
    files: ['services/*/src/**/*.ts', 'libs/platform/src/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name='register'] > ArrowFunctionExpression",
          message: 'Name the plugin: app.register(routePlugin(name, async (app) => ...)).',
        },
        {
          selector:
            "ReturnStatement > ArrowFunctionExpression[params.0.typeAnnotation.typeAnnotation.typeName.name='App']",
          message: 'Name the route plugin: return routePlugin(name, async (app: App) => ...).',
        },
      ],
    },
  },
  {
    files: ['services/*/src/domain/**/*.ts'],
    rules: restrict([
      {
        group: [
          'fastify',
          '@fastify/*',
          'postgres',
          'drizzle-orm',
          'drizzle-orm/*',
          '@nats-io/*',
          'pino',
          '@offload/platform',
          '@offload/platform/*',
          '**/db',
          '**/db/**',
          '**/routes/**',
          '**/events/**',
          'node:*',
        ],
        message: 'domain/ is pure: no framework, driver, broker or I/O imports.',
      },
    ]),
  },
  {
    files: ['libs/**/*.ts'],
    rules: restrict([
      {
        group: [
          '@offload/gateway',
          '@offload/identity',
          '@offload/ai',
          '@offload/usage',
          '@offload/tasks',
          '@offload/billing',
          '@offload/voice',
          '**/services/**',
        ],
        message: 'libs never import services.',
      },
    ]),
  },
  {
    files: ['libs/contracts/**/*.ts'],
    rules: restrict([
      {
        group: [
          'node:*',
          '@offload/platform',
          '@offload/platform/*',
          'fastify',
          'postgres',
          'drizzle-orm',
          '@nats-io/*',
        ],
        message: 'contracts are zod only.',
      },
    ]),
  },
  {
    // Tests read JSON bodies of arbitrary shape; `any` there is the honest type.
    files: ['**/test/**/*.ts', '**/*.test.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['scripts/**/*.ts', 'bench/**/*.ts'],
    rules: { 'no-console': 'off' },
  },
);
