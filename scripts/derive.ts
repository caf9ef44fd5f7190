/** npm run derive -- --root <secp256k1:…> --predecessor <account> --path <path>: offline derivation. */
import { parseArgs } from 'node:util';
import { deriveChildPublicKey, evmAddress, toUncompressedHex } from '../helpers/derivation.ts';

try {
  const { values } = parseArgs({
    options: { root: { type: 'string' }, predecessor: { type: 'string' }, path: { type: 'string' } },
  });
  if (!values.root || !values.predecessor || values.path === undefined)
    throw new Error('--root, --predecessor and --path are required');
  const key = deriveChildPublicKey(values.root, values.predecessor, values.path);
  process.stdout.write(
    `derived key      ${key}\nuncompressed     ${toUncompressedHex(key)}\nEVM address      ${evmAddress(key)}\n`,
  );
} catch (e) {
  process.stderr.write(
    `derive: ${(e as Error).message}\n` +
      'usage: npm run derive -- --root secp256k1:<base58 X‖Y> --predecessor <account> --path <path>\n',
  );
  process.exit(2);
}
