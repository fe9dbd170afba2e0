package fakeaws

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// kmsKey is a symmetric KMS key. Its material is real: Encrypt and Decrypt use AES-256-GCM,
// binding the encryption context, so a wrong context or key fails as in KMS.
type kmsKey struct {
	id, arn     string
	description string
	material    []byte
	created     time.Time
}

var kmsProtocol = &jsonProtocol{
	targetPrefix: "TrentService",
	handlers: map[string]func(*request) (any, error){
		"Encrypt":         kmsEncrypt,
		"Decrypt":         kmsDecrypt,
		"GenerateDataKey": kmsGenerateDataKey,
		"DescribeKey":     kmsDescribeKey,
	},
}

var kmsKeyARN = regexp.MustCompile(`^arn:aws:kms:([a-z0-9-]+):(\d{12}):(key/[0-9a-f-]{36}|alias/[a-zA-Z0-9/_-]+)$`)

// findKey resolves a key ID, key ARN, alias name or alias ARN in the caller's account.
func (reg *region) findKey(r *request, id, action string) (*kmsKey, error) {
	if id == "" {
		return nil, errorf("ValidationException", "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")
	}
	name := id
	if m := kmsKeyARN.FindStringSubmatch(id); m != nil {
		if m[1] != reg.name || m[2] != reg.account {
			return nil, &apiError{Code: "AccessDeniedException", Message: fmt.Sprintf(
				"User: %s is not authorized to perform: kms:%s on resource: %s because no resource-based policy allows the kms:%s action", r.principalARN(), action, id, action)}
		}
		name = m[3]
	} else if strings.HasPrefix(id, "arn:") {
		return nil, errorf("NotFoundException", "Invalid arn %s", id)
	}
	name = strings.TrimPrefix(name, "key/")
	if strings.HasPrefix(name, "alias/") {
		keyID, ok := reg.keyAliases[name]
		if !ok {
			return nil, errorf("NotFoundException", "Alias %s is not found.", "arn:aws:kms:"+reg.name+":"+reg.account+":"+name)
		}
		name = keyID
	}
	k := reg.keys[name]
	if k == nil {
		return nil, errorf("NotFoundException", "Key '%s' does not exist", "arn:aws:kms:"+reg.name+":"+reg.account+":key/"+name)
	}
	return k, nil
}

// ciphertext layout: the key ID (36 bytes), then the GCM nonce and sealed data.
func (k *kmsKey) seal(plaintext []byte, context map[string]string) []byte {
	gcm := k.gcm()
	nonce := make([]byte, gcm.NonceSize())
	rand.Read(nonce)
	out := append([]byte(k.id), nonce...)
	return gcm.Seal(out, nonce, plaintext, contextAAD(context))
}

func (k *kmsKey) gcm() cipher.AEAD {
	block, err := aes.NewCipher(k.material)
	if err != nil {
		panic(err) // the material is always 32 bytes
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		panic(err)
	}
	return gcm
}

func contextAAD(context map[string]string) []byte {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(context)) {
		b.WriteString(k + "=" + context[k] + "\n")
	}
	return []byte(b.String())
}

func kmsEncrypt(r *request) (any, error) {
	var in struct {
		KeyId               string
		Plaintext           []byte
		EncryptionContext   map[string]string
		EncryptionAlgorithm string
	}
	if err := decodeJSON(r.body, &in); err != nil {
		return nil, err
	}
	if len(in.Plaintext) == 0 || len(in.Plaintext) > 4096 {
		return nil, errorf("ValidationException", "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and 4096")
	}
	if in.EncryptionAlgorithm != "" && in.EncryptionAlgorithm != "SYMMETRIC_DEFAULT" {
		return nil, errorf("InvalidKeyUsageException", "The encryption algorithm %s is not compatible with the key's key spec SYMMETRIC_DEFAULT", in.EncryptionAlgorithm)
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	k, err := r.state().findKey(r, in.KeyId, "Encrypt")
	if err != nil {
		return nil, err
	}
	return map[string]any{"CiphertextBlob": k.seal(in.Plaintext, in.EncryptionContext), "KeyId": k.arn, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}, nil
}

func kmsDecrypt(r *request) (any, error) {
	var in struct {
		CiphertextBlob    []byte
		EncryptionContext map[string]string
		KeyId             string
	}
	if err := decodeJSON(r.body, &in); err != nil {
		return nil, err
	}
	if len(in.CiphertextBlob) == 0 {
		return nil, errorf("ValidationException", "1 validation error detected: Value null at 'ciphertextBlob' failed to satisfy constraint: Member must not be null")
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	reg := r.state()
	if len(in.CiphertextBlob) < 36+12 {
		return nil, errorf("InvalidCiphertextException", "")
	}
	k := reg.keys[string(in.CiphertextBlob[:36])]
	if k == nil {
		// The ciphertext names a key this account does not hold.
		return nil, errorf("InvalidCiphertextException", "")
	}
	if in.KeyId != "" {
		named, err := reg.findKey(r, in.KeyId, "Decrypt")
		if err != nil {
			return nil, err
		}
		if named != k {
			return nil, errorf("IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation.")
		}
	}
	gcm := k.gcm()
	rest := in.CiphertextBlob[36:]
	plain, err := gcm.Open(nil, rest[:gcm.NonceSize()], rest[gcm.NonceSize():], contextAAD(in.EncryptionContext))
	if err != nil {
		return nil, errorf("InvalidCiphertextException", "")
	}
	return map[string]any{"Plaintext": plain, "KeyId": k.arn, "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}, nil
}

func kmsGenerateDataKey(r *request) (any, error) {
	var in struct {
		KeyId             string
		KeySpec           string
		NumberOfBytes     *int
		EncryptionContext map[string]string
	}
	if err := decodeJSON(r.body, &in); err != nil {
		return nil, err
	}
	n := 0
	switch {
	case in.KeySpec != "" && in.NumberOfBytes != nil:
		return nil, errorf("ValidationException", "Please specify either number of bytes or key spec.")
	case in.KeySpec == "AES_256":
		n = 32
	case in.KeySpec == "AES_128":
		n = 16
	case in.KeySpec != "":
		return nil, errorf("ValidationException", "1 validation error detected: Value '%s' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]", in.KeySpec)
	case in.NumberOfBytes == nil:
		return nil, errorf("ValidationException", "Please specify either number of bytes or key spec.")
	case *in.NumberOfBytes < 1 || *in.NumberOfBytes > 1024:
		return nil, errorf("ValidationException", "1 validation error detected: Value '%d' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024", *in.NumberOfBytes)
	default:
		n = *in.NumberOfBytes
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	k, err := r.state().findKey(r, in.KeyId, "GenerateDataKey")
	if err != nil {
		return nil, err
	}
	plain := make([]byte, n)
	rand.Read(plain)
	return map[string]any{"CiphertextBlob": k.seal(plain, in.EncryptionContext), "Plaintext": plain, "KeyId": k.arn}, nil
}

func kmsDescribeKey(r *request) (any, error) {
	var in struct{ KeyId string }
	if err := decodeJSON(r.body, &in); err != nil {
		return nil, err
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	k, err := r.state().findKey(r, in.KeyId, "DescribeKey")
	if err != nil {
		return nil, err
	}
	return map[string]any{"KeyMetadata": map[string]any{
		"AWSAccountId": r.account, "KeyId": k.id, "Arn": k.arn, "CreationDate": json.Number(fmt.Sprint(k.created.Unix())),
		"Enabled": true, "Description": k.description, "KeyUsage": "ENCRYPT_DECRYPT", "KeyState": "Enabled",
		"Origin": "AWS_KMS", "KeyManager": "CUSTOMER", "KeySpec": "SYMMETRIC_DEFAULT", "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
		"EncryptionAlgorithms": []string{"SYMMETRIC_DEFAULT"}, "MultiRegion": false,
	}}, nil
}

// createKey makes a new key with its aliases ("alias/name" or "name").
func (reg *region) createKey(description string, now time.Time, aliases ...string) (*kmsKey, error) {
	h := randomHex(16)
	id := h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
	for i, a := range aliases {
		if !strings.HasPrefix(a, "alias/") {
			a = "alias/" + a
			aliases[i] = a
		}
		if strings.HasPrefix(a, "alias/aws/") {
			return nil, fmt.Errorf("alias %s: the alias/aws/ prefix is reserved for AWS managed keys", a)
		}
		if _, taken := reg.keyAliases[a]; taken {
			return nil, fmt.Errorf("alias %s already exists in account %s, %s", a, reg.account, reg.name)
		}
	}
	material := make([]byte, 32)
	rand.Read(material)
	k := &kmsKey{id: id, arn: "arn:aws:kms:" + reg.name + ":" + reg.account + ":key/" + id, description: description, material: material, created: now}
	reg.keys[id] = k
	for _, a := range aliases {
		reg.keyAliases[a] = id
	}
	return k, nil
}
