// Checks docker/Dockerfile and docker/compose.yaml without a Docker engine: every compose command
// is a configuration parseConfig accepts, the three members agree on the cluster, and the image
// runs unprivileged with a health check that really reads /health.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseConfig, formatEtcdUrl } from '../../../src/config/index.js';
import { parseYamlSubset } from '../../../src/config/yaml-subset.js';

const dockerDir = new URL('../../../docker/', import.meta.url);
const dockerfile = readFileSync(new URL('Dockerfile', dockerDir), 'utf8');
const compose = parseYamlSubset(readFileSync(new URL('compose.yaml', dockerDir), 'utf8')) as {
  services: Record<string, { command: string[]; volumes: string[]; build: { context: string; dockerfile: string } }>;
};

describe('docker/compose.yaml', () => {
  const services = Object.entries(compose.services);

  it('defines three members, each built from docker/Dockerfile', () => {
    expect(services.map(([name]) => name)).toEqual(['etcd1', 'etcd2', 'etcd3']);
    for (const [, service] of services) expect(service.build).toEqual({ context: '..', dockerfile: 'docker/Dockerfile' });
  });

  it('every command is accepted by parseConfig with no warnings and no unimplemented flags', () => {
    for (const [, service] of services) {
      const { config, warnings } = parseConfig(service.command, {});
      expect(warnings).toEqual([]);
      expect(config.unimplementedFlagsSet).toEqual([]);
      expect(config.initialClusterState).toBe('new');
    }
  });

  it('names itself after its service, lists the same three members, and advertises what the cluster expects', () => {
    const configs = services.map(([serviceName, service]) => ({ serviceName, config: parseConfig(service.command, {}).config }));
    const clusters = configs.map(({ config }) => JSON.stringify(config.initialCluster));
    expect(new Set(clusters).size).toBe(1);
    expect(new Set(configs.map(({ config }) => config.initialClusterToken)).size).toBe(1);
    for (const { serviceName, config } of configs) {
      expect(config.name).toBe(serviceName);
      expect(config.initialCluster.map((member) => member.name)).toEqual(['etcd1', 'etcd2', 'etcd3']);
      const own = config.initialCluster.find((member) => member.name === serviceName)!;
      expect(own.peerUrls).toEqual(config.initialAdvertisePeerUrls.map(formatEtcdUrl));
      expect(config.initialAdvertisePeerUrls[0]!.hostname).toBe(serviceName);
      expect(config.advertiseClientUrls.map(formatEtcdUrl)).toEqual([`http://${serviceName}:2379`]);
      expect(config.dataDir.startsWith('/var/lib/etcd-ts/')).toBe(true);
    }
  });

  it('keeps each data dir on a volume mounted at /var/lib/etcd-ts', () => {
    for (const [serviceName, service] of services) expect(service.volumes).toEqual([`${serviceName}-data:/var/lib/etcd-ts`]);
  });
});

describe('docker/Dockerfile', () => {
  // Instructions as Docker reads them: a line ending in a backslash continues on the next.
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'));
  const last = (keyword: string) => [...instructions].reverse().find((line) => line.startsWith(`${keyword} `));

  it('runs on node:20-bookworm-slim with production dependencies only', () => {
    const froms = instructions.filter((line) => line.startsWith('FROM '));
    expect(froms.every((line) => line.startsWith('FROM node:20-bookworm-slim'))).toBe(true);
    expect(dockerfile).toContain('npm ci --omit=dev');
  });

  it('copies every local (file:) package before the runtime stage\'s npm ci, with compilers for its addon', () => {
    const packageJson = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as Record<string, Record<string, string> | undefined>;
    const localDirs = ['dependencies', 'optionalDependencies']
      .flatMap((field) => Object.values(packageJson[field] ?? {}))
      .filter((spec) => spec.startsWith('file:'))
      .map((spec) => spec.slice('file:'.length));
    expect(localDirs.length).toBeGreaterThan(0);
    const runtime = instructions.slice(instructions.map((line) => line.startsWith('FROM ')).lastIndexOf(true));
    const npmCi = runtime.findIndex((line) => line.startsWith('RUN ') && line.includes('npm ci'));
    expect(npmCi).toBeGreaterThan(0);
    for (const dir of localDirs) {
      // npm ci takes a missing file: folder of an optional dependency silently: a dangling link, no addon.
      const copied = runtime.slice(0, npmCi).some((line) => {
        const [, source] = line.split(/\s+/);
        return line.startsWith('COPY ') && source !== undefined && (dir === source || dir.startsWith(`${source.replace(/\/$/, '')}/`));
      });
      expect(copied, `${dir} copied before npm ci`).toBe(true);
    }
    expect(runtime[npmCi]).toMatch(/apt-get install[^&]*\bmake\b[^&]*\bg\+\+/);
  });

  it('runs as a non-root user', () => {
    const user = last('USER');
    expect(user).toBeDefined();
    expect(user!.slice(5).trim()).not.toMatch(/^(root|0)(:|$)/);
  });

  it('declares the data volume and etcd ports', () => {
    expect(instructions).toContain('VOLUME ["/var/lib/etcd-ts"]');
    expect(instructions).toContain('EXPOSE 2379 2380');
  });

  it('starts with flags parseConfig accepts', () => {
    const cmd = JSON.parse(last('CMD')!.slice(4)) as string[];
    const { config } = parseConfig(cmd, {});
    expect(config.dataDir.startsWith('/var/lib/etcd-ts/')).toBe(true);
    expect(config.listenClientUrls.map(formatEtcdUrl)).toContain('http://0.0.0.0:2379');
  });

  it('has a HEALTHCHECK whose node script passes only when /health says true', async () => {
    const line = last('HEALTHCHECK');
    expect(line).toBeDefined();
    const command = JSON.parse(line!.slice(line!.indexOf('CMD ') + 4)) as string[];
    expect(command.slice(0, 2)).toEqual(['node', '-e']);
    const script = command[2]!;
    expect(script).toContain('http://127.0.0.1:2379/health');

    let healthBody = '{"health":"true"}';
    const server: Server = createServer((request, response) => {
      response.writeHead(request.url === '/health' ? 200 : 404, { 'content-type': 'application/json' });
      response.end(healthBody);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    // Port 2379 may belong to another test's server, so aim the same script at our own port.
    const runProbe = () =>
      promisify(execFile)(process.execPath, ['-e', script.replace('127.0.0.1:2379', `127.0.0.1:${port}`)], { timeout: 10_000 })
        .then(() => 0)
        .catch((error: { code?: number }) => error.code ?? -1);
    try {
      expect(await runProbe()).toBe(0);
      healthBody = '{"health":"false"}';
      expect(await runProbe()).toBe(1);
    } finally {
      server.close();
    }
  });
});
