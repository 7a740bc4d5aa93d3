package io.github.incus4j.remote;

import io.github.incus4j.api.InvalidArgumentException;
import java.io.IOException;
import java.io.InputStream;
import java.io.Reader;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PrivateKey;
import java.security.cert.Certificate;
import java.security.cert.CertificateEncodingException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMEncryptedKeyPair;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.pkcs.PKCS8EncryptedPrivateKeyInfo;

/** TLS material for HTTPS remotes: PEM client certificates and keys (BouncyCastle), pinned server certificates. */
final class Tls {
    private Tls() {
    }

    /** Every certificate in a PEM file, leaf first; refuses a file without one, naming it. */
    static List<X509Certificate> certificates(Path pem) {
        try (InputStream in = Files.newInputStream(pem)) {
            List<X509Certificate> out = new ArrayList<>();
            for (Certificate c : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                out.add((X509Certificate) c);
            }
            if (out.isEmpty()) {
                throw new InvalidArgumentException("No PEM certificate in " + pem);
            }
            return out;
        } catch (IOException e) {
            throw new InvalidArgumentException("Cannot read the certificate " + pem + ": " + Transport.describe(e), e);
        } catch (CertificateException e) {
            throw new InvalidArgumentException("Not a PEM certificate: " + pem + " (" + Transport.describe(e) + ")", e);
        }
    }

    /**
     * The private key of a PEM file: SEC1 ({@code EC PRIVATE KEY}, what Incus writes), PKCS#1 ({@code RSA PRIVATE
     * KEY}) or PKCS#8 ({@code PRIVATE KEY}); encrypted keys are refused (Incus's are not encrypted).
     */
    static PrivateKey privateKey(Path pem) {
        JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
        try (Reader r = Files.newBufferedReader(pem, StandardCharsets.US_ASCII); PEMParser parser = new PEMParser(r)) {
            for (Object o = parser.readObject(); o != null; o = parser.readObject()) {
                if (o instanceof PEMKeyPair kp) {
                    return converter.getPrivateKey(kp.getPrivateKeyInfo()); // SEC1 may omit the public key
                }
                if (o instanceof PrivateKeyInfo info) {
                    return converter.getPrivateKey(info);
                }
                if (o instanceof PEMEncryptedKeyPair || o instanceof PKCS8EncryptedPrivateKeyInfo) {
                    throw new InvalidArgumentException("Encrypted private keys are not supported: " + pem);
                }
            }
        } catch (IOException e) {
            throw new InvalidArgumentException("Cannot read the private key " + pem + ": " + Transport.describe(e), e);
        }
        throw new InvalidArgumentException("No PEM private key in " + pem);
    }

    /** Key managers presenting {@code cert}'s chain with {@code key}; refuses a key that does not match. */
    static KeyManager[] keyManagers(Path cert, Path key) {
        List<X509Certificate> chain = certificates(cert);
        PrivateKey pk = privateKey(key);
        if (!pk.getAlgorithm().equals(chain.get(0).getPublicKey().getAlgorithm())) {
            throw new InvalidArgumentException("The key " + key + " (" + pk.getAlgorithm()
                    + ") does not belong to the certificate " + cert + " (" + chain.get(0).getPublicKey().getAlgorithm()
                    + ")");
        }
        try {
            KeyStore ks = KeyStore.getInstance("PKCS12");
            ks.load(null, null);
            ks.setKeyEntry("client", pk, new char[0], chain.toArray(new X509Certificate[0]));
            KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
            kmf.init(ks, new char[0]);
            return kmf.getKeyManagers();
        } catch (GeneralSecurityException | IOException e) {
            throw new InvalidArgumentException("Cannot use the client certificate " + cert + " with the key " + key
                    + ": " + Transport.describe(e), e);
        }
    }

    /** Trust managers of a key store file (PKCS#12 or JKS, detected), or of the JDK's default store for null. */
    static TrustManager[] trustStore(Path store, char[] password) {
        try {
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(store == null ? null : KeyStore.getInstance(store.toFile(), password));
            return tmf.getTrustManagers();
        } catch (GeneralSecurityException | IOException e) {
            throw new InvalidArgumentException("Cannot read the trust store " + store + ": " + Transport.describe(e),
                    e);
        }
    }

    static SSLContext context(KeyManager[] keys, TrustManager[] trust) {
        try {
            SSLContext ctx = SSLContext.getInstance("TLS");
            ctx.init(keys, trust, null);
            return ctx;
        } catch (GeneralSecurityException e) {
            throw new InvalidArgumentException("Cannot set up TLS: " + Transport.describe(e), e);
        }
    }

    static String fingerprint(X509Certificate c) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(c.getEncoded()));
        } catch (NoSuchAlgorithmException | CertificateEncodingException e) {
            return "?";
        }
    }

    /** The server's certificate is not the pinned one: carries both fingerprints for the message. */
    static final class PinMismatch extends CertificateException {
        private static final long serialVersionUID = 1L;

        PinMismatch(String message) {
            super(message);
        }
    }

    /**
     * Trusts exactly one server certificate, as the incus CLI does with {@code servercerts/<remote>.crt}: the leaf
     * the server presents must be that certificate, byte for byte; no host name check (Incus's self-signed server
     * certificates name the host, not the address a client dials).
     */
    static final class Pinned extends X509ExtendedTrustManager {
        private final X509Certificate pinned;

        Pinned(X509Certificate pinned) {
            this.pinned = pinned;
        }

        private void check(X509Certificate[] chain) throws CertificateException {
            if (chain == null || chain.length == 0) {
                throw new PinMismatch("the server presented no certificate");
            }
            if (!Arrays.equals(chain[0].getEncoded(), pinned.getEncoded())) {
                throw new PinMismatch("server certificate SHA-256 " + fingerprint(chain[0]) + ", pinned "
                        + fingerprint(pinned));
            }
            // No validity-date check: the incus CLI compares the bytes only, and so accepts what it accepts.
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            check(chain);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
                throws CertificateException {
            check(chain);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
                throws CertificateException {
            check(chain);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
            throw new CertificateException("a client trusts no clients");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
                throws CertificateException {
            throw new CertificateException("a client trusts no clients");
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
                throws CertificateException {
            throw new CertificateException("a client trusts no clients");
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }
}
