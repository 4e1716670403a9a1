package archive

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config says where S3-compatible archive storage is and how to log in.
type S3Config struct {
	// Endpoint is the service's URL, e.g. https://s3.us-east-1.amazonaws.com
	// or http://127.0.0.1:7070 (http for loopback only).
	Endpoint string
	// Bucket holds the archives; it is created if missing.
	Bucket string
	// Region is the bucket's region (default us-east-1).
	Region string
	// Prefix starts every object's key (optional, e.g. "claw/").
	Prefix string
	// AccessKeyID, SecretAccessKey and SessionToken are the credentials;
	// empty means the standard AWS_* environment variables.
	AccessKeyID, SecretAccessKey, SessionToken string
	// Transport sends the requests (default http.DefaultTransport).
	Transport http.RoundTripper
}

// Keys keeps each archive's data key; *secrets.Store satisfies it (the
// keys are sealed there under the platform key, as database URLs are).
type Keys interface {
	Get(ctx context.Context, ref string) ([]byte, error)
	Put(ctx context.Context, ref string, plaintext []byte) error
	Delete(ctx context.Context, ref string) error
}

// S3 is a Store in an S3-compatible bucket. Every archive is encrypted on
// this side before it leaves (crypt.go) under a random 256-bit key of its
// own, kept in Keys under KeyRef(ref, id) and named by the object's
// metadata; the bucket never sees plaintext nor a key, and deleting an
// archive deletes its key too. An object appears only whole (PutObject is
// atomic); its metadata carries the SHA-256 of the stored (encrypted)
// bytes, checked on every read before anything is decrypted, and the
// plaintext size.
type S3 struct {
	client *minio.Client
	bucket string
	prefix string
	keys   Keys
}

// Object metadata (x-amz-meta-*) of an archive.
const (
	metaKey    = "Claw-Key"
	metaSHA256 = "Claw-Sha256"
	metaBytes  = "Claw-Bytes"
)

// KeyPrefix starts the secret reference of every archive key.
const KeyPrefix = "archive-key/"

// KeyRef is the secret reference of archive ref's key id.
func KeyRef(ref, id string) string {
	return KeyPrefix + strings.TrimPrefix(ref, "archive/") + "/" + id
}

// NewS3 connects to the bucket (creating it if missing).
func NewS3(ctx context.Context, c S3Config, keys Keys) (*S3, error) {
	if keys == nil {
		return nil, errors.New("s3 archives: no key store")
	}
	u, err := url.Parse(c.Endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errors.New("s3 archives: the endpoint is not an http(s) URL")
	}
	if c.Bucket == "" {
		return nil, errors.New("s3 archives: no bucket")
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	creds := credentials.NewEnvAWS()
	if c.AccessKeyID != "" {
		creds = credentials.NewStaticV4(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
	}
	client, err := minio.New(u.Host, &minio.Options{
		Creds: creds, Secure: u.Scheme == "https", Region: c.Region,
		BucketLookup: minio.BucketLookupPath, Transport: c.Transport,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 archives: %w", err)
	}
	ok, err := client.BucketExists(ctx, c.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3 archives: bucket %s: %w", c.Bucket, err)
	}
	if !ok {
		err := client.MakeBucket(ctx, c.Bucket, minio.MakeBucketOptions{Region: c.Region})
		if err != nil && minio.ToErrorResponse(err).Code != "BucketAlreadyOwnedByYou" {
			return nil, fmt.Errorf("s3 archives: create bucket %s: %w", c.Bucket, err)
		}
	}
	return &S3{client: client, bucket: c.Bucket, prefix: c.Prefix, keys: keys}, nil
}

// object returns the key of ref's object, refusing refs that are not
// plain relative names.
func (s *S3) object(ref string) (string, error) {
	if ref == "" || strings.Contains(ref, "..") || strings.HasPrefix(ref, "/") || strings.ContainsAny(ref, "\\\x00") {
		return "", fmt.Errorf("archive ref %q is not a relative name", ref)
	}
	return s.prefix + ref + ".dump.enc", nil
}

// Put encrypts what r yields under a new key into a temporary file (so a
// failed read — pg_dump failing half way — stores nothing), stores the key,
// uploads the object, and then deletes the key of the archive it replaced.
func (s *S3) Put(ctx context.Context, ref string, r io.Reader) (Info, error) {
	obj, err := s.object(ref)
	if err != nil {
		return Info{}, err
	}
	old, _ := s.stat(ctx, obj)
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return Info{}, err
	}
	idb := make([]byte, 8)
	if _, err := rand.Read(idb); err != nil {
		return Info{}, err
	}
	id := hex.EncodeToString(idb)
	tmp, err := os.CreateTemp("", "claw-archive-*")
	if err != nil {
		return Info{}, err
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // ciphertext only
	defer tmp.Close()
	h := sha256.New()
	enc, err := newEncrypter(io.MultiWriter(tmp, h), key, ref)
	if err != nil {
		return Info{}, err
	}
	n, err := io.Copy(enc, r)
	if err == nil {
		err = enc.Close()
	}
	if err != nil {
		return Info{}, fmt.Errorf("write archive %s: %w", ref, err)
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return Info{}, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return Info{}, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	if err := s.keys.Put(ctx, KeyRef(ref, id), key); err != nil {
		return Info{}, fmt.Errorf("store the key of archive %s: %w", ref, err)
	}
	_, err = s.client.PutObject(ctx, s.bucket, obj, tmp, size, minio.PutObjectOptions{
		ContentType:  "application/octet-stream",
		UserMetadata: map[string]string{metaKey: id, metaSHA256: sum, metaBytes: strconv.FormatInt(n, 10)},
	})
	if err != nil {
		_ = s.keys.Delete(context.WithoutCancel(ctx), KeyRef(ref, id))
		return Info{}, fmt.Errorf("upload archive %s: %w", ref, err)
	}
	if old.key != "" && old.key != id {
		if err := s.keys.Delete(ctx, KeyRef(ref, old.key)); err != nil {
			return Info{}, fmt.Errorf("delete the replaced key of archive %s: %w", ref, err)
		}
	}
	return Info{Ref: ref, Bytes: n, SHA256: sum}, nil
}

// objectInfo is an archive object's metadata.
type objectInfo struct {
	key, sha256 string
	bytes       int64
}

// stat reads obj's metadata, or ErrNotFound.
func (s *S3) stat(ctx context.Context, obj string) (objectInfo, error) {
	st, err := s.client.StatObject(ctx, s.bucket, obj, minio.StatObjectOptions{})
	if err != nil {
		if code := minio.ToErrorResponse(err).Code; code == "NoSuchKey" || code == "NotFound" {
			return objectInfo{}, ErrNotFound
		}
		return objectInfo{}, err
	}
	meta := func(k string) string {
		if v := st.UserMetadata[k]; v != "" {
			return v
		}
		return st.Metadata.Get("X-Amz-Meta-" + k)
	}
	bytes, _ := strconv.ParseInt(meta(metaBytes), 10, 64)
	oi := objectInfo{key: meta(metaKey), sha256: meta(metaSHA256), bytes: bytes}
	if oi.key == "" || oi.sha256 == "" {
		return objectInfo{}, fmt.Errorf("%s: %w (no key or checksum in its metadata)", obj, ErrCorrupt)
	}
	return oi, nil
}

// Stat returns the archive of ref, or ErrNotFound.
func (s *S3) Stat(ctx context.Context, ref string) (Info, error) {
	obj, err := s.object(ref)
	if err != nil {
		return Info{}, err
	}
	oi, err := s.stat(ctx, obj)
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w", ref, err)
	}
	return Info{Ref: ref, Bytes: oi.bytes, SHA256: oi.sha256}, nil
}

// Open downloads the archive of ref into a temporary file, checks it
// against its checksum, and returns its decrypted content (the file goes
// on Close). A key gone from the store (the archive was deleted) is
// ErrNotFound.
func (s *S3) Open(ctx context.Context, ref string) (io.ReadCloser, Info, error) {
	obj, err := s.object(ref)
	if err != nil {
		return nil, Info{}, err
	}
	oi, err := s.stat(ctx, obj)
	if err != nil {
		return nil, Info{}, fmt.Errorf("%s: %w", ref, err)
	}
	key, err := s.keys.Get(ctx, KeyRef(ref, oi.key))
	if err != nil {
		return nil, Info{}, fmt.Errorf("%s: the key: %w (%w)", ref, ErrNotFound, err)
	}
	body, err := s.client.GetObject(ctx, s.bucket, obj, minio.GetObjectOptions{})
	if err != nil {
		return nil, Info{}, err
	}
	defer body.Close()
	tmp, err := os.CreateTemp("", "claw-archive-*")
	if err != nil {
		return nil, Info{}, err
	}
	_ = os.Remove(tmp.Name()) // open until Close, gone from the directory now
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), body); err != nil {
		tmp.Close()
		return nil, Info{}, fmt.Errorf("download archive %s: %w", ref, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != oi.sha256 {
		tmp.Close()
		return nil, Info{}, fmt.Errorf("%s: %w", ref, ErrCorrupt)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		tmp.Close()
		return nil, Info{}, err
	}
	dec, err := newDecrypter(tmp, key, ref)
	if err != nil {
		tmp.Close()
		return nil, Info{}, fmt.Errorf("%s: %w: %w", ref, ErrCorrupt, err)
	}
	return readCloser{Reader: dec, Closer: tmp}, Info{Ref: ref, Bytes: oi.bytes, SHA256: oi.sha256}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// Delete removes the key of the archive of ref, then the archive, for
// good. Deleting a missing archive succeeds.
func (s *S3) Delete(ctx context.Context, ref string) error {
	obj, err := s.object(ref)
	if err != nil {
		return err
	}
	oi, err := s.stat(ctx, obj)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return fmt.Errorf("delete archive %s: %w", ref, err)
	}
	// The key first: from then on the object is unreadable ciphertext, so a
	// removal that fails leaves nothing anyone can read, and a repeated
	// Delete finishes it.
	if oi.key != "" {
		if err := s.keys.Delete(ctx, KeyRef(ref, oi.key)); err != nil {
			return fmt.Errorf("delete the key of archive %s: %w", ref, err)
		}
	}
	if err := s.client.RemoveObject(ctx, s.bucket, obj, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("delete archive %s: %w", ref, err)
	}
	return nil
}

// KeyID returns the id of the key archive ref is encrypted under (its
// secret is KeyRef(ref, id)).
func (s *S3) KeyID(ctx context.Context, ref string) (string, error) {
	obj, err := s.object(ref)
	if err != nil {
		return "", err
	}
	oi, err := s.stat(ctx, obj)
	if err != nil {
		return "", fmt.Errorf("%s: %w", ref, err)
	}
	return oi.key, nil
}
