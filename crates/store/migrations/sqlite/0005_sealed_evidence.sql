-- Evidence files (ID photos, vouchers) are sealed at rest like the other personal data: the
-- body is nonce + XChaCha20-Poly1305 ciphertext under the key `key_id` names, bound to the
-- blob's address. Bodies written before this migration have no key id (clear) until `serve`
-- seals them.
ALTER TABLE attachment_blobs ADD COLUMN key_id TEXT;
