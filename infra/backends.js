// The local stack's disk-backed AWS backends, one Node process: DynamoDB (dynalite, on LevelDB) and S3 (s3rver, on
// files), both under STATE_DIR, both writing through on every request (no snapshot to lose).
// Usage: node infra/backends.js <state_dir> <host> <dynamodb_port> <s3_port> <access_key_id> <secret_access_key>
// Prints one JSON line {"dynamodb": url, "s3": url} once both listen; exits on SIGTERM/SIGINT after closing LevelDB.
'use strict'

const fs = require('fs')
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

// s3rver 3.7 answers neither AbortMultipartUpload nor ListMultipartUploads. The worker aborts every multipart upload
// it does not complete (and a retried job lists its task's leftovers), so both are served here from s3rver's own
// upload folders (<bucket>/._S3rver_uploads/<upload id>/, holding the parts and a `key` file); all else is s3rver's.
const s3Root = path.join(stateDir, 's3')
const s3Handler = s3.callback.bind(s3)
s3.callback = () => {
  const handle = s3Handler()
  return (req, res) => { if (!multipartExtras(req, res)) handle(req, res) }
}

function multipartExtras (req, res) {
  const url = new URL(req.url, 'http://backend')
  const [bucket, ...key] = url.pathname.split('/').slice(1)
  if (!/^[a-z0-9][a-z0-9.-]{1,62}$/.test(bucket || '')) return false
  const uploads = path.join(s3Root, bucket, '._S3rver_uploads')
  const id = url.searchParams.get('uploadId') || ''
  if (req.method === 'DELETE' && key.join('/') && /^[0-9a-f]{32}$/.test(id)) {
    fs.rm(path.join(uploads, id), { recursive: true, force: true }, () => { res.statusCode = 204; res.end() })
    return true
  }
  if (req.method === 'GET' && url.searchParams.has('uploads') && !key.join('/')) {
    const prefix = url.searchParams.get('prefix') || ''
    const found = []
    for (const entry of fs.existsSync(uploads) ? fs.readdirSync(uploads) : []) {
      try {
        const name = fs.readFileSync(path.join(uploads, entry, 'key'), 'utf8')
        if (name.startsWith(prefix)) found.push(`<Upload><Key>${xml(name)}</Key><UploadId>${xml(entry)}</UploadId></Upload>`)
      } catch (err) {} // an upload being created or removed right now
    }
    res.setHeader('Content-Type', 'application/xml')
    res.end('<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' +
      `<Bucket>${xml(bucket)}</Bucket><Prefix>${xml(prefix)}</Prefix><IsTruncated>false</IsTruncated>${found.join('')}</ListMultipartUploadsResult>`)
    return true
  }
  return false
}

function xml (text) {
  return String(text).replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' }[c]))
}

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
