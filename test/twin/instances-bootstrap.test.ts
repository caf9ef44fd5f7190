/**
 * The first-boot script (CDK UserData mirror) and the `aws` stand-in, against the twin's real AWS
 * endpoint (Secrets Manager over the wire through the `aws` CLI stand-in). The container image is
 * the dummy program from instances-support.ts.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { base58 } from '@scure/base';
import { startAwsEndpoint, type AwsEndpoint } from '../../twin/aws/server.ts';
import type { Fleet } from '../../twin/instances/fleet.ts';
import { dummyFleet, eventually, fingerprint, IMAGE } from './instances-support.ts';

const PLACEHOLDER = 'PLACEHOLDER_REPLACE_WITH_REAL_KEY';
const key = () => `ed25519:${base58.encode(randomBytes(64))}`;
const storeKey = () => randomBytes(16).toString('hex').toUpperCase();

describe('bootstrap.sh (UserData) and the aws stand-in', () => {
  let aws: AwsEndpoint;
  let env: Awaited<ReturnType<typeof dummyFleet>>;
  let fleet: Fleet;
  beforeAll(async () => {
    let ref: Fleet | undefined;
    aws = await startAwsEndpoint({
      accountId: '111122223333',
      region: 'us-east-1',
      instances: {
        describe: () => ref?.describe() ?? [],
        run: (id, c, o) => ref!.run(id, c, o),
        setPing: (id, ping) => ref!.setPing(id, ping),
      },
    });
    env = await dummyFleet({ awsEndpointUrl: aws.url, instances: 5 });
    fleet = ref = env.fleet;
  });
  afterAll(async () => {
    await env?.stop();
    await aws?.stop();
  });

  function secrets(i: number, v: { account: string; p2p: string; store: string }) {
    aws.secrets.create(`mpc-node-${i}-mpc_account_sk`, v.account);
    aws.secrets.create(`mpc-node-${i}-mpc_p2p_private_key`, v.p2p);
    aws.secrets.create(`mpc-node-${i}-mpc_secret_store_key`, v.store);
  }
  const boot = (i: number) =>
    fleet.bootstrap(
      env.ids[i]!,
      {
        NODE_INDEX: String(i),
        REGION: 'us-east-1',
        MPC_ACCOUNT_ID: `mpc-node-${i}.localnet`,
        MPC_CONTRACT_ID: 'v1.signer.localnet',
        IMAGE,
        SECRET_POLL_COUNT: '3',
        SECRET_POLL_SECONDS: '0.1',
      },
      120,
    );
  const dataDir = (i: number) => fleet.instance(env.ids[i]!)!.dataDir;
  const signerOf = (i: number) =>
    eventually(
      async () => {
        const r = await env.sh(env.ids[i]!, [
          'addr=$(docker logs mpc-node 2>/dev/null | grep "listening on" | tail -1 | cut -d" " -f3)',
          'curl -sf "http://$addr/info"',
        ]);
        return r.exitCode === 0 ? (JSON.parse(r.stdout) as { signer: string }).signer : undefined;
      },
      'GET /info',
      60,
    );

  test(
    'placeholder secret: polls SECRET_POLL_COUNT times, then times out with the UserData error; ' + 'nothing written',
    async () => {
      secrets(0, { account: PLACEHOLDER, p2p: PLACEHOLDER, store: PLACEHOLDER });
      const r = await boot(0);
      expect(r.exitCode).toBe(1);
      expect(r.stderr.match(/Waiting for MPC_ACCOUNT_SK secret to be populated/g)).toHaveLength(3);
      expect(r.stderr).toContain('ERROR: Timed out waiting for MPC_ACCOUNT_SK secret to be populated');
      expect(r.stdout).not.toContain(PLACEHOLDER); // progress never lands in a value or on stdout
      expect(existsSync(join(dataDir(0), 'secrets.json'))).toBe(false);
      expect(existsSync(join(dataDir(0), 'config.yaml'))).toBe(false);
      expect(fleet.containers(env.ids[0]!)).toEqual([]);
      expect(readFileSync(fleet.instance(env.ids[0]!)!.cloudInitLog, 'utf8')).toContain(
        'ERROR: Timed out waiting for MPC_ACCOUNT_SK',
      );
    },
  );

  test(
    'JSON-wrapped account key (ECS-era format) fails the ed25519: prefix check; the value is ' + 'not echoed',
    async () => {
      const sk = key();
      secrets(1, { account: JSON.stringify({ key: sk }), p2p: key(), store: storeKey() });
      const r = await boot(1);
      expect(r.exitCode).toBe(1);
      expect(r.stderr).toContain("ERROR: MPC_ACCOUNT_SK must start with 'ed25519:'");
      expect(r.output).not.toContain(sk.slice(8));
      expect(existsSync(join(dataDir(1), 'secrets.json'))).toBe(false);
      expect(fleet.containers(env.ids[1]!)).toEqual([]);
    },
  );

  test(
    'real keys, no secrets.json: writes it (600, newline stripped) and config.yaml, runs ' + 'the container',
    async () => {
      const v = { account: `${key()}\n`, p2p: key(), store: storeKey() };
      secrets(2, v);
      const r = await boot(2);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout).toBe('MPC node 2 startup complete\n');
      for (const s of [v.account.trim(), v.p2p, v.store]) expect(r.output).not.toContain(s.slice(8));
      const file = join(dataDir(2), 'secrets.json');
      expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({
        p2p_private_key: v.p2p,
        near_signer_key: v.account.trim(),
        near_responder_keys: [v.account.trim()],
      });
      expect(statSync(file).mode & 0o777).toBe(0o600);
      const config = readFileSync(join(dataDir(2), 'config.yaml'), 'utf8');
      expect(config).toContain('my_near_account_id: mpc-node-2.localnet');
      expect(config).toContain('mpc_contract_id: v1.signer.localnet');
      expect(config).toMatch(/web_ui:\n {2}host: 0\.0\.0\.0\n {2}port: 8080/);
      const c = fleet.container(env.ids[2]!, 'mpc-node')!;
      expect(c.State.Running).toBe(true);
      expect(c.Config.Image).toBe(IMAGE);
      expect(c.Path).toBe('/app/mpc-node');
      expect(c.Args).toEqual(['start', 'local']);
      expect(c.HostConfig).toMatchObject({ NetworkMode: 'host', RestartPolicy: { Name: 'always' } });
      expect(c.Config.Env).toEqual(
        expect.arrayContaining(['MPC_HOME_DIR=/data', `MPC_SECRET_STORE_KEY=${v.store}`, 'RUST_LOG=mpc=debug,info']),
      );
      expect(await signerOf(2)).toBe(fingerprint(v.account.trim()));
    },
  );

  test(
    'existing secrets.json and config.yaml stay byte-identical; the old container is replaced; ' +
      'the node keeps its old key',
    async () => {
      const old = key();
      const oldBytes = `{"p2p_private_key":"${key()}","near_signer_key":"${old}","near_responder_keys":["${old}"]}`;
      writeFileSync(join(dataDir(3), 'secrets.json'), oldBytes, { mode: 0o600 });
      const oldConfig =
        'my_near_account_id: mpc-node-3.localnet\nweb_ui:\n  host: 0.0.0.0\n  port: 8080\n# hand-edited\n';
      writeFileSync(join(dataDir(3), 'config.yaml'), oldConfig);
      const pre = await env.sh(env.ids[3]!, [
        'docker run -d --name mpc-node --restart=always --net=host -v "$MPC_DATA_DIR:/data" ' +
          `-e MPC_HOME_DIR=/data ${IMAGE} start local`,
      ]);
      expect(pre.exitCode, pre.stderr).toBe(0);
      const preId = pre.stdout.trim();
      const fresh = key();
      secrets(3, { account: fresh, p2p: key(), store: storeKey() });
      const r = await boot(3);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(readFileSync(join(dataDir(3), 'secrets.json'), 'utf8')).toBe(oldBytes);
      expect(readFileSync(join(dataDir(3), 'config.yaml'), 'utf8')).toBe(oldConfig);
      const c = fleet.container(env.ids[3]!, 'mpc-node')!;
      expect(c.Id).not.toBe(preId);
      expect(c.State.Running).toBe(true);
      expect(await signerOf(3)).toBe(fingerprint(old));
      expect(await signerOf(3)).not.toBe(fingerprint(fresh));
    },
  );

  test('aws secretsmanager / sts: output, --query, errors and exit codes as the AWS CLI', async () => {
    const id = env.ids[4]!;
    aws.secrets.create('plain-secret', 'hello world');
    const text = await env.sh(id, [
      'aws secretsmanager get-secret-value --secret-id plain-secret --query SecretString --output text',
    ]);
    expect(text).toMatchObject({ exitCode: 0, stdout: 'hello world\n' });
    const json = await env.sh(id, [
      'aws secretsmanager get-secret-value --secret-id plain-secret --version-stage AWSCURRENT --region us-east-1',
    ]);
    expect(json.exitCode, json.stderr).toBe(0);
    const parsed = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['ARN', 'Name', 'VersionId', 'SecretString', 'VersionStages', 'CreatedDate']);
    expect(parsed).toMatchObject({ Name: 'plain-secret', SecretString: 'hello world', VersionStages: ['AWSCURRENT'] });
    expect(json.stdout).toMatch(/^ {4}"ARN": "arn:aws:secretsmanager:us-east-1:111122223333:secret:plain-secret-/m);
    const desc = await env.sh(id, [
      'aws secretsmanager describe-secret --secret-id plain-secret --query Name --output text',
    ]);
    expect(desc.stdout).toBe('plain-secret\n');
    const missing = await env.sh(id, [
      'aws secretsmanager get-secret-value --secret-id nope --query SecretString --output text',
    ]);
    expect(missing.exitCode).toBe(254);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toBe(
      '\nAn error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: ' +
        "Secrets Manager can't find the specified secret.\n",
    );
    const usage = await env.sh(id, ['aws secretsmanager get-secret-value']);
    expect(usage.exitCode).toBe(252);
    expect(usage.stderr).toContain('aws: error: the following arguments are required: --secret-id');
    const who = await env.sh(id, ['aws sts get-caller-identity --query Account --output text']);
    expect(who).toMatchObject({ exitCode: 0, stdout: '111122223333\n' });
    const noCreds = await env.sh(id, ['AWS_ACCESS_KEY_ID= aws sts get-caller-identity']);
    expect(noCreds.exitCode).toBe(253);
    const down = await env.sh(id, ['aws sts get-caller-identity --endpoint-url http://127.0.0.1:9']);
    expect(down.exitCode).toBe(255);
    expect(down.stderr).toContain('Could not connect to the endpoint URL');
  });
});
