// Start s3rver (npm) on a free loopback port with bucket "tracewire" (or
// argv[3]) stored under argv[2]; print "PORT\n" once it listens, and stop
// when standard input closes — so a test that dies never leaves it behind.
// Used by tests/server/test_s3.c and the S3 interop tests. s3rver knows one
// key pair, S3RVER / S3RVER; of a SigV4 request it checks the access key id
// and the payload hash header, not the signature.
//
// Run it as `node --openssl-legacy-provider s3rver.mjs DIR`: s3rver makes
// its ListObjectsV2 continuation tokens with DES, which OpenSSL 3 keeps in
// its legacy provider; without it every second page is an InternalError.
import S3rver from 's3rver';

if (!process.execArgv.includes('--openssl-legacy-provider')) {
  console.error('s3rver.mjs: run node with --openssl-legacy-provider (s3rver lists pages with DES tokens)');
  process.exit(2);
}

const dir = process.argv[2];
const bucket = process.argv[3] || 'tracewire';
if (!dir) {
  console.error('usage: node s3rver.mjs DIRECTORY [BUCKET]');
  process.exit(2);
}
const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: dir,
  configureBuckets: [{ name: bucket }] });
const { port } = await server.run();
process.stdout.write(`${port}\n`);
process.stdin.on('end', async () => { await server.close(); process.exit(0); });
process.stdin.resume();
