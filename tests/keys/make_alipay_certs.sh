#!/bin/sh
# make_alipay_certs.sh - the certificates of Alipay's public-key certificate
# mode, for the tests, made with the openssl command line into OUTDIR (a
# test's temporary directory): only this script is committed. The leaf
# certificates hold the committed test keys (alipay_app_private.pem,
# alipay_platform_private.pem); the certificate authorities get new keys
# every run, which nothing keeps.
#
#   sh tests/keys/make_alipay_certs.sh OUTDIR [APP_ID]
#
# Writes into OUTDIR, shaped like what Alipay hands out:
#   alipay_root_cert.pem  the root bundle (alipayRootCert.crt): an RSA root
#                         (the issuer of everything here), an ECDSA root and
#                         a second RSA root, in that order
#   alipay_app_cert.pem   the app's certificate (appCertPublicKey_*.crt):
#                         the app key, issued by the RSA root, CN = APP_ID
#                         (default 2021000000000002)
#   alipay_cert.pem       Alipay's certificate (alipayCertPublicKey_RSA2.crt):
#                         the platform key, issued by an intermediate CA,
#                         followed by that intermediate
#   other_root_cert.pem   an unrelated root, for a chain that must not hold
#   alipay_sn.env         the serial numbers by Alipay's rule, computed here
#                         with openssl and md5sum alone (so that they share
#                         no code with the driver): MD5 hex of the
#                         issuer (attributes last to first, RFC 2253 form)
#                         followed by the serial in decimal; for the root
#                         bundle, those of its RSA-signed certificates
#                         joined by "_":
#                           APP_CERT_SN=...  ALIPAY_CERT_SN=...
#                           ALIPAY_ROOT_CERT_SN=...  NOT_AFTER=<epoch s>
# Every certificate is valid from now for DAYS (3650) days.
set -eu
[ $# -ge 1 ] || { echo "usage: $0 OUTDIR [APP_ID]" >&2; exit 2; }
keys=$(cd "$(dirname "$0")" && pwd)
out=$1
app_id=${2:-2021000000000002}
days=3650
mkdir -p "$out"
cd "$out"

ca_ext="basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always"
leaf_ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
authorityKeyIdentifier=keyid:always"
printf '%s\n' "$ca_ext" >ca.ext
printf '%s\n' "$leaf_ext" >leaf.ext

# Every serial is given here in decimal (the form Alipay's rule takes),
# beyond 2^64 as Alipay's are, so that no conversion is needed below.
root() { # NAME SERIAL SUBJECT KEYARGS...
	name=$1 serial=$2 subj=$3
	shift 3
	openssl req -x509 -new "$@" -nodes -keyout "$name.key" -sha256 \
		-set_serial "$serial" -days "$days" -subj "$subj" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$name.pem" 2>/dev/null
	echo "$serial" >"$name.serial"
}
issue() { # OUT KEY SUBJECT CA EXTFILE SERIAL
	openssl req -new -key "$2" -subj "$3" -out "$1.csr" 2>/dev/null
	openssl x509 -req -in "$1.csr" -CA "$4.pem" -CAkey "$4.key" \
		-set_serial "$6" -days "$days" -sha256 -extfile "$5" \
		-out "$1.pem" 2>/dev/null
	echo "$6" >"$1.serial"
	rm -f "$1.csr"
}

root root_rsa 73010000000000000000001 \
	"/C=CN/O=payroute tests/OU=Certification Authority/CN=payroute test Alipay Root CA R1" \
	-newkey rsa:2048
root root_ec 73010000000000000000002 \
	"/C=CN/O=payroute tests/OU=Certification Authority/CN=payroute test Alipay Root CA E1" \
	-newkey ec -pkeyopt ec_paramgen_curve:P-256
root root_rsa2 73010000000000000000003 \
	"/C=CN/O=payroute tests/OU=Certification Authority/CN=payroute test Alipay Root CA" \
	-newkey rsa:2048
root other_root 99 "/C=CN/O=somebody else/CN=payroute test unrelated root" \
	-newkey rsa:2048
cat root_rsa.pem root_ec.pem root_rsa2.pem >alipay_root_cert.pem
cp other_root.pem other_root_cert.pem

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out inter.key 2>/dev/null
# serials beyond 2^64, as Alipay's are: the decimal form must not overflow
issue inter inter.key \
	"/C=CN/O=payroute tests/OU=Certification Authority/CN=payroute test Alipay Class 1 R1" \
	root_rsa ca.ext 40212345678901234567890
issue app "$keys/alipay_app_private.pem" \
	"/C=CN/O=payroute tests/OU=Alipay/CN=$app_id" root_rsa leaf.ext \
	20260606000000000001
issue alipay "$keys/alipay_platform_private.pem" \
	"/C=CN/O=Alipay (test)/OU=Alipay/CN=payroute test alipay platform" inter leaf.ext \
	147393498364117386297361
cp app.pem alipay_app_cert.pem
cat alipay.pem inter.pem >alipay_cert.pem

sn() { # NAME: Alipay's serial number of NAME.pem
	issuer=$(openssl x509 -in "$1.pem" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//')
	printf '%s%s' "$issuer" "$(cat "$1.serial")" | md5sum | cut -d' ' -f1
}
not_after=$(date -u -d "$(openssl x509 -in app.pem -noout -enddate | sed 's/^notAfter=//')" +%s)
{
	echo "APP_CERT_SN=$(sn app)"
	echo "ALIPAY_CERT_SN=$(sn alipay)"
	# the RSA-signed roots in bundle order; root_ec is left out
	echo "ALIPAY_ROOT_CERT_SN=$(sn root_rsa)_$(sn root_rsa2)"
	echo "NOT_AFTER=$not_after"
} >alipay_sn.env
rm -f ca.ext leaf.ext ./*.serial
