// The local stack's disk-backed AWS backends, one Node process: DynamoDB (dynalite, on LevelDB) and S3 (s3rver, on
// files), both under STATE_DIR, both writing through on every request (no snapshot to lose).
// Usage: node infra/backends.js <state_dir> <host> <dynamodb_port> <s3_port> <access_key_id> <secret_access_key>
// Prints one JSON line {"dynamodb": url, "s3": url} once both listen; exits on SIGTERM/SIGINT after closing LevelDB.
'use strict'

const path = require('path')
const dynalite = require('dynalite')
const S3rver = require('s3rver')
const AWSAccount = require('s3rver/lib/models/account')

const [stateDir, host, dynamoPort, s3Port, accessKeyId, secretAccessKey] = process.argv.slice(2)
if (!secretAccessKey) {
  console.error('usage: node infra/backends.js <state_dir> <host> <dynamodb_port> <s3_port> <access_key_id> <secret_access_key>')
  process.exit(2)
}

// s3rver checks signatures against its own accounts: accept the stack's (fake) credentials.
AWSAccount.DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey)

const dynamo = dynalite({ path: path.join(stateDir, 'dynamodb'), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 })
const s3 = new S3rver({ address: host, port: Number(s3Port), directory: path.join(stateDir, 's3'), silent: true })

dynamo.on('error', (err) => { console.error(`dynamodb backend: ${err.message}`); process.exit(1) })

dynamo.listen(Number(dynamoPort), host, () => {
  s3.run((err, address) => {
    if (err) { console.error(`s3 backend: ${err.message}`); process.exit(1) }
    const d = dynamo.address()
    console.log(JSON.stringify({ dynamodb: `http://${host}:${d.port}`, s3: `http://${host}:${address.port}` }))
  })
})

let stopping = false
function stop () {
  if (stopping) return
  stopping = true
  s3.close(() => dynamo.close(() => process.exit(0)))
  setTimeout(() => process.exit(0), 5000).unref()
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
