import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createSecureContext as tlsContext } from 'node:tls';
import { selfSignedCertificate } from '../../src/store/embedded/self-signed.js';

/**
 * The SQL endpoint's self-signed certificate is written as DER by hand. Every one must parse: a serial
 * number with a non-minimal encoding (one certificate in 256) made a new store fail to start with OpenSSL's
 * "illegal padding". 2,000 certificates make that near-certain to show.
 */
test('2,000 self-signed certificates all parse and load into a TLS context', () => {
  for (let i = 0; i < 2000; i++) {
    const pair = selfSignedCertificate('conntrail');
    const cert = new X509Certificate(pair.cert);
    assert.match(cert.subject, /CN=conntrail/);
    tlsContext({ cert: pair.cert, key: pair.key });
  }
});
