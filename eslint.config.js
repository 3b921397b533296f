// ESLint flat config for the frontend: plain ES modules in a browser, no build step.
// Third-party files under frontend/vendor are theirs, not ours: not linted.
import js from "@eslint/js";
import globals from "globals";

export default [
  {
    ignores: [
      "frontend/vendor/**",
      "node_modules/**",
      ".venv/**",
      ".venv-gateway/**",
      "test-artifacts/**",
      "dist/**",
      "build/**",
    ],
  },
  js.configs.recommended,
  {
    files: ["frontend/**/*.js", "tests/frontend/**/*.js"],
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: "module",
      globals: { ...globals.browser },
    },
    rules: {
      "no-unused-vars": ["error", { args: "after-used", argsIgnorePattern: "^_", caughtErrors: "none" }],
      eqeqeq: ["error", "smart"],
      "no-var": "error",
      "prefer-const": "error",
    },
  },
  {
    files: ["eslint.config.js"],
    languageOptions: { sourceType: "module", globals: { ...globals.node } },
  },
];
