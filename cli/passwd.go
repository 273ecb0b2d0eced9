package cli

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/parkd/parkd/internal/passhash"
)

// stdin is what parkd passwd reads the password from. Run has no stdin of
// its own (no other command reads one); tests replace it with a pipe.
var stdin io.Reader = os.Stdin

// tokenBytes is the randomness of an API token from parkd passwd --token.
const tokenBytes = 32

// runPasswd prints the argon2id hash of a password read without echo, for
// [[http.user]] password_hash, or makes a new API token and its hash for
// [[http.token]]. Only the hash (and the new token) go to stdout; prompts
// and notes go to stderr; the password is never printed.
func runPasswd(args []string, stdout, stderr io.Writer) error {
	fs := NewFlags("passwd", "Print the hash of a board password, for password_hash in [[http.user]].\n"+
		"On a terminal it asks for the password twice, without echo; otherwise it reads one line\n"+
		"from stdin (echo \"$PW\" | parkd passwd). Only the hash is printed on stdout.\n"+
		"With --token it makes a new random API token instead and prints it (line 1, shown only\n"+
		"this once) and its hash (line 2), for hash in [[http.token]].", stderr)
	token := fs.Bool("token", false, "make a random API token and print it and its hash")
	if err := ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 { // not quoted: it may well be the password
		return Usagef(fs, "takes no arguments: it reads the password from the terminal or stdin (on the command line it would stay in the shell's history)")
	}
	if *token {
		return printToken(stdout, stderr)
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	hash, err := passhash.Hash(pw)
	if err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	_, err = fmt.Fprintln(stdout, hash)
	return err
}

// printToken prints a new API token and its hash, each on its own line.
func printToken(stdout, stderr io.Writer) error {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return fmt.Errorf("passwd: token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	hash, err := passhash.Hash(tok)
	if err != nil {
		return fmt.Errorf("passwd: %w", err)
	}
	fmt.Fprintln(stderr, "parkd passwd: line 1 is the API token, shown only this once: give it to the integration\n"+
		"(Authorization: Bearer <token>). Line 2 is its hash: write it as hash in [[http.token]].")
	_, err = fmt.Fprintf(stdout, "%s\n%s\n", tok, hash)
	return err
}

// readPassword reads the password: from a terminal without echo, twice,
// else one line from in. The errors never contain the password.
func readPassword(in io.Reader, stderr io.Writer) (string, error) {
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return readTerminal(int(f.Fd()), stderr)
	}
	// One line; reading a byte past the limit tells a long one.
	line, err := bufio.NewReader(io.LimitReader(in, passhash.MaxSecretLen+3)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from stdin: %w", err)
	}
	hadNewline := strings.HasSuffix(line, "\n")
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if !hadNewline && len(line) > passhash.MaxSecretLen {
		return "", errTooLong
	}
	return line, checkPassword(line)
}

// readTerminal asks twice on stderr and reads the answers without echo.
func readTerminal(fd int, stderr io.Writer) (string, error) {
	ask := func(prompt string) (string, error) {
		fmt.Fprint(stderr, prompt)
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr) // the Enter the terminal did not echo
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		return string(b), nil
	}
	return askTwice(ask)
}

// askTwice asks for the password and its confirmation, refusing an
// unusable password before asking again and a confirmation that differs.
func askTwice(ask func(prompt string) (string, error)) (string, error) {
	pw, err := ask("Password: ")
	if err != nil {
		return "", err
	}
	if err := checkPassword(pw); err != nil {
		return "", err
	}
	again, err := ask("Again: ")
	if err != nil {
		return "", err
	}
	if again != pw {
		return "", errors.New("the two passwords differ; nothing printed")
	}
	return pw, nil
}

var errTooLong = fmt.Errorf("the password is longer than %d bytes", passhash.MaxSecretLen)

// checkPassword refuses what passhash cannot hash, saying why.
func checkPassword(pw string) error {
	switch {
	case pw == "":
		return errors.New("the password is empty")
	case len(pw) > passhash.MaxSecretLen:
		return errTooLong
	}
	return nil
}
