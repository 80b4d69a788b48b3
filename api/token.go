package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// TokenFile is the name of the API token's file in the node's data
// directory. It holds 64 lowercase hex digits (32 random bytes) and has
// mode 0600.
const TokenFile = "api-token"

// tokenBytes is the entropy of a generated token.
const tokenBytes = 32

// TokenError is returned by LoadOrCreateToken and ReadToken. It names the
// token file and wraps the cause: errors.Is(err, fs.ErrNotExist) when the
// file is absent, fs.ErrPermission when its mode lets group or others read
// it.
type TokenError struct {
	Path string
	Err  error
}

func (e *TokenError) Error() string { return fmt.Sprintf("api token %s: %v", e.Path, e.Err) }

// Unwrap returns the cause.
func (e *TokenError) Unwrap() error { return e.Err }

// LoadOrCreateToken returns the API token kept in dataDir/TokenFile. The
// first call creates it: 32 random bytes as hex, written to a private
// temporary file, synced, and linked into place, so that a concurrent
// caller (or another process) never reads a half-written token, and only
// one token ever wins. dataDir is created with mode 0700 when missing. It
// refuses (a *TokenError wrapping fs.ErrPermission) a token file that group
// or others may access, and a file that does not hold a well-formed token.
// It is safe for concurrent use.
func LoadOrCreateToken(dataDir string) (string, error) {
	path := filepath.Join(dataDir, TokenFile)
	if tok, err := readToken(path, true); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return tok, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", &TokenError{Path: path, Err: err}
	}
	var raw [tokenBytes]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", &TokenError{Path: path, Err: err}
	}
	tok := hex.EncodeToString(raw[:])
	if err := writeNew(path, tok); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Someone else created it first: theirs wins.
			return readToken(path, true)
		}
		return "", &TokenError{Path: path, Err: err}
	}
	return tok, nil
}

// writeNew writes tok to path, failing with fs.ErrExist if path exists.
// The file appears complete or not at all.
func writeNew(path, tok string) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+TokenFile+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if rerr := os.Remove(tmp); rerr != nil && err == nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = rerr
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		_ = f.Close()
		return err
	}
	if _, err := f.WriteString(tok + "\n"); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync() // best effort: the token is durable once the directory is
		_ = d.Close()
	}
	return nil
}

// ReadToken returns the API token kept in dataDir/TokenFile, for clients
// such as salesctl. It fails with a *TokenError wrapping fs.ErrNotExist when
// the file is absent (the node has not created one yet), and with a
// *TokenError for an unreadable or malformed file. It does not check the
// file's mode: a client only reads it.
func ReadToken(dataDir string) (string, error) {
	return readToken(filepath.Join(dataDir, TokenFile), false)
}

func readToken(path string, strict bool) (string, error) {
	if strict {
		st, err := os.Stat(path)
		if err != nil {
			return "", &TokenError{Path: path, Err: err}
		}
		if !st.Mode().IsRegular() {
			return "", &TokenError{Path: path, Err: errors.New("not a regular file")}
		}
		if st.Mode().Perm()&0o077 != 0 {
			return "", &TokenError{Path: path, Err: fmt.Errorf("%w: mode %04o lets group or others access it (want 0600)", fs.ErrPermission, st.Mode().Perm())}
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", &TokenError{Path: path, Err: err}
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" || len(tok) > 1024 || strings.ContainsAny(tok, " \t\r\n") {
		return "", &TokenError{Path: path, Err: errors.New("malformed token")}
	}
	return tok, nil
}

// NeedsToken reports whether a server listening on addr (host:port, or a
// bare host) must require the API token: false only when the host is a
// loopback address (127.0.0.0/8, ::1) or "localhost"; true for an empty
// host (":8080", every interface), 0.0.0.0, :: and any other host.
func NeedsToken(addr string) bool {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	} else {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	if host == "" {
		return true
	}
	if strings.EqualFold(host, "localhost") {
		return false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return true
	}
	return !ip.Unmap().IsLoopback()
}
