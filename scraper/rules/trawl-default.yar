/*
 * trawl default YARA rules, written for this project.
 *
 * Embedded in the trawl-scraper binary (scraper/src/analysis/yara.rs) and
 * shipped in the image under /rules for reference. Each rule has a
 * `description` and a `severity` (info, low, medium, high) that become the
 * finding `yara.<RuleName>`. Every rule needs code-level evidence (several
 * strings together, or one string specific to malicious code) so that it does
 * not fire on benign modern sites; the unit tests run them over benign
 * framework bundles, analytics snippets and login pages.
 */

rule CryptominerJs
{
    meta:
        description = "In-browser CryptoNight miner (Coinhive family and clones)"
        severity = "high"
    strings:
        $api1 = "CoinHive.Anonymous("
        $api2 = "CoinHive.User("
        $api3 = "CoinHive.Token("
        $api4 = "new Client.Anonymous("
        $api5 = "CRLT.Anonymous("
        $api6 = "deepMiner.Anonymous("
        $api7 = "deepMiner.Init("
        $lib1 = "coinhive.min.js" nocase
        $lib2 = "cryptonight.wasm" nocase
        $lib3 = "CryptonightWASMWrapper"
        $lib4 = "cryptonight_hash"
        $lib5 = "authedmine.min.js" nocase
        $host1 = "coinhive.com" nocase
        $host2 = "authedmine.com" nocase
        $host3 = "crypto-loot.com" nocase
        $host4 = "coinimp.com" nocase
        $host5 = "webminepool.com" nocase
        $host6 = "minero.cc" nocase
        $host7 = "hostingcloud.racing" nocase
    condition:
        any of ($api*) or (any of ($lib*) and any of ($host*))
}

rule MagecartSkimmer
{
    meta:
        description = "JS skimmer: watches for checkout pages, reads payment card fields and sends them to a remote host (Magecart style)"
        severity = "high"
    strings:
        // The page test: a regex of checkout page names, or a location check.
        $page1 = /(onepage|checkout|onestep|firecheckout)\|(onepage|checkout|onestep|firecheckout|payment)/ nocase
        $page2 = /location(\.href|\.pathname)?\s*\.\s*(indexOf|search|match|includes)\s*\(\s*["'](onepage|checkout|onestep|firecheckout)/ nocase
        // Card fields.
        $card1 = "cc_number" nocase
        $card2 = "cc-number" nocase
        $card3 = "cardnumber" nocase
        $card4 = "card_number" nocase
        $card5 = "cc_cid" nocase
        $card6 = "cc_exp" nocase
        $card7 = "cvv" nocase
        // Exfiltration to another host.
        $exfil1 = /new\s+Image\s*\(\s*\)/
        $exfil2 = "navigator.sendBeacon("
        $exfil3 = /\.open\s*\(\s*["']POST["']\s*,\s*["']https?:\/\//
        $exfil4 = /fetch\s*\(\s*["']https?:\/\/[^"']{1,200}["']\s*,\s*\{\s*method\s*:\s*["']POST/
        // Encoding of what was collected.
        $enc1 = "btoa("
        $enc2 = /querySelectorAll\s*\(\s*["']input/
        $enc3 = /getElementsByTagName\s*\(\s*["'](input|select)["']\s*\)/
    condition:
        any of ($page*) and 2 of ($card*) and any of ($exfil*) and any of ($enc*)
}

rule PhpWebshellText
{
    meta:
        description = "PHP webshell source served as text (runs request data, or a known shell marker)"
        severity = "high"
    strings:
        $php = "<?php" nocase
        $e1 = /(eval|assert)\s*\(\s*(base64_decode|gzinflate|gzuncompress|str_rot13|stripslashes)?\s*\(?\s*\$_(POST|GET|REQUEST|COOKIE)\s*\[/ nocase
        $e2 = /(system|passthru|shell_exec|popen|proc_open)\s*\(\s*\$_(POST|GET|REQUEST|COOKIE)\s*\[/ nocase
        $e3 = /eval\s*\(\s*(gzinflate|gzuncompress|str_rot13)\s*\(\s*base64_decode\s*\(/ nocase
        $m1 = "FilesMan"
        $m2 = "c99shell" nocase
        $m3 = "r57shell" nocase
        $m4 = "b374k" nocase
    condition:
        $php and any of ($e*, $m*)
}

rule EncodedScriptTagDropper
{
    meta:
        description = "document.write of a percent-encoded <script> or <iframe> tag (dropper)"
        severity = "high"
    strings:
        $w = /document\.write(ln)?\s*\(\s*(unescape|decodeURIComponent)\s*\(\s*["']%3c%(73%63%72%69%70%74|69%66%72%61%6d%65)/ nocase
    condition:
        $w
}

rule JsWrittenHiddenIframe
{
    meta:
        description = "Script writes an invisible iframe into the page (classic injected redirector)"
        severity = "medium"
    strings:
        $a = /document\.write(ln)?\s*\(\s*["']<iframe[^>]{0,300}(width\s*=\s*\\?["']?[01]\\?["' ]|height\s*=\s*\\?["']?[01]\\?["' ]|visibility\s*:\s*hidden|display\s*:\s*none)/ nocase
    condition:
        $a
}

rule HeapSprayShellcode
{
    meta:
        description = "Shellcode heap spray (unescape of a %u-encoded NOP sled), typical of exploit-kit landing pages"
        severity = "high"
    strings:
        $sled = /unescape\s*\(\s*["'](%u(0c0c|0a0a|9090|0d0d|4141|1414)){2}/ nocase
    condition:
        $sled
}

rule VbscriptDropper
{
    meta:
        description = "VBScript in a page that writes or runs files (WScript.Shell, ADODB.Stream, FileSystemObject): drive-by dropper"
        severity = "high"
    strings:
        $lang = /<script[^>]{0,80}(language|type)\s*=\s*["']?(text\/)?vbscript/ nocase
        $o1 = "WScript.Shell" nocase
        $o2 = "ADODB.Stream" nocase
        $o3 = "Scripting.FileSystemObject" nocase
        $o4 = "Shell.Application" nocase
    condition:
        $lang and any of ($o*)
}

rule VbscriptGodMode
{
    meta:
        description = "CVE-2014-6332 'GodMode' VBScript exploit markers (exploit-kit landing page)"
        severity = "high"
    strings:
        $a = "setnotsafemode" nocase
        $b = "runmumaa" nocase
        $c = /redim\s+preserve\s+aa\s*\(\s*a2/ nocase
    condition:
        any of them
}
