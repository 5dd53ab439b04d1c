package main

import (
	"flag"
	"fmt"

	"github.com/nats-io/nats.go"
)

// connFlags are the NATS connection and namespace flags shared by serve (with
// --nats-url) and the client commands: credentials, nkey, user/password and TLS are
// passed through to nats.go unchanged.
type connFlags struct {
	namespace string
	creds     string
	nkey      string
	user      string
	password  string
	tlsCert   string
	tlsKey    string
	tlsCA     string
}

func (f *connFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.namespace, "namespace", "", "duroxide namespace (subject and stream prefix; default duroxide)")
	fs.StringVar(&f.creds, "creds", "", "NATS credentials `file`")
	fs.StringVar(&f.nkey, "nkey", "", "NATS nkey seed `file`")
	fs.StringVar(&f.user, "user", "", "NATS user name")
	fs.StringVar(&f.password, "password", "", "NATS password")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "TLS client certificate `file`")
	fs.StringVar(&f.tlsKey, "tls-key", "", "TLS client key `file`")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "TLS CA certificate `file`")
}

// options turns the flags into nats.go connect options.
func (f *connFlags) options() ([]nats.Option, error) {
	var opts []nats.Option
	if f.creds != "" {
		opts = append(opts, nats.UserCredentials(f.creds))
	}
	if f.nkey != "" {
		o, err := nats.NkeyOptionFromSeed(f.nkey)
		if err != nil {
			return nil, usageErrorf("--nkey %q: %v", f.nkey, err)
		}
		opts = append(opts, o)
	}
	if f.user != "" || f.password != "" {
		opts = append(opts, nats.UserInfo(f.user, f.password))
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return nil, usageErrorf("--tls-cert and --tls-key go together")
	}
	if f.tlsCert != "" {
		opts = append(opts, nats.ClientCert(f.tlsCert, f.tlsKey))
	}
	if f.tlsCA != "" {
		opts = append(opts, nats.RootCAs(f.tlsCA))
	}
	return opts, nil
}

func (f *connFlags) connect(url, name string) (*nats.Conn, error) {
	opts, err := f.options()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name(name)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", url, err)
	}
	return nc, nil
}
