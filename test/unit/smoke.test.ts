import { expect, test } from 'vitest';
test('runtime is Node >= 22.12 (pinned through the node devDependency)', () => {
  const [major, minor] = process.versions.node.split('.').map(Number);
  expect(major! > 22 || (major === 22 && minor! >= 12)).toBe(true);
});
