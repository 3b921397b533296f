; Inno Setup 6 script for MiaoDa Chat on Windows 10 and 11 (x64).
;
;   iscc /DAppVersion=0.1.0 build\windows\miaoda.iss
;
; Run after PyInstaller has built dist\miaoda (see docs/PACKAGING.md, "Windows"); the release
; workflow does both on GitHub's windows-2022 runner.
; Writes dist\MiaoDa-Chat-<version>-windows-x64-setup.exe.
; The installer installs for all users under Program Files, adds a Start menu shortcut (and a
; desktop one if asked), registers an uninstaller, and leaves the user's data folder
; (%APPDATA%\MiaoDa Chat) in place on uninstall: it holds their providers and history.
;
; WebView2: pywebview's default Windows backend (EdgeChromium) renders with the Microsoft Edge
; WebView2 Runtime, which the installer then checks for and offers to install. The check is
; compiled in only when the bundle does not bring its own engine: today backend/window.py uses
; pywebview's Qt backend on every OS, so the bundle carries QtWebEngine (QtWebEngineProcess.exe)
; and needs no runtime. Force it either way with /DWebView2Check=1 or /DWebView2Check=0.

#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=<backend.__version__> build\windows\miaoda.iss
#endif

#define AppName "MiaoDa Chat"
#define AppExe "miaoda.exe"
#define Bundle "..\..\dist\miaoda"

#ifndef WebView2Check
  #if FileExists(Bundle + "\_internal\PySide6\QtWebEngineProcess.exe")
    #define WebView2Check 0
  #else
    #define WebView2Check 1
  #endif
#endif

[Setup]
; The AppId ties every version to one uninstall entry: never change it.
AppId={{7927B1AF-D2A4-4100-8B92-48788AB49726}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher={#AppName} developers
VersionInfoVersion={#AppVersion}
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=admin
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; Windows 10 1809: the oldest the Qt 6 wheels and the WebView2 runtime support.
MinVersion=10.0.17763
OutputDir=..\..\dist
OutputBaseFilename=MiaoDa-Chat-{#AppVersion}-windows-x64-setup
SetupIconFile=..\icons\miaoda.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
WizardStyle=modern
Compression=lzma2/max
SolidCompression=yes
LZMANumBlockThreads=2
; Close a running copy before replacing its files (the [Run] entry offers to start it again).
CloseApplications=yes
RestartApplications=no
SetupLogging=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#Bundle}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
; An upgrade replaces the bundle wholesale: files a newer PyInstaller build no longer has must
; not linger beside the new ones.
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; WorkingDir: "{app}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; WorkingDir: "{app}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

#if WebView2Check
[Code]
const
  // The WebView2 Runtime's client id, and Microsoft's permanent link to its Evergreen
  // bootstrapper (a small download that fetches and installs the current runtime).
  WebView2ClientKey = 'Microsoft\EdgeUpdate\Clients\{F3017226-FE2A-4295-8BDF-00C3A9A7E4C5}';
  WebView2BootstrapperUrl = 'https://go.microsoft.com/fwlink/p/?LinkId=2124703';
  WebView2Bootstrapper = 'MicrosoftEdgeWebview2Setup.exe';

var
  DownloadPage: TDownloadWizardPage;

// Installed means a version ("pv") other than empty or 0.0.0.0 under either the machine-wide key
// (in the 32-bit registry view on 64-bit Windows) or the current user's key, as Microsoft's
// distribution guide describes.
function WebView2Installed(): Boolean;
var
  Version: String;
begin
  Result :=
    (RegQueryStringValue(HKLM32, 'SOFTWARE\' + WebView2ClientKey, 'pv', Version)
      and (Version <> '') and (Version <> '0.0.0.0'))
    or (RegQueryStringValue(HKCU, 'Software\' + WebView2ClientKey, 'pv', Version)
      and (Version <> '') and (Version <> '0.0.0.0'));
end;

procedure InitializeWizard();
begin
  DownloadPage := CreateDownloadPage(SetupMessage(msgWizardPreparing),
    'Downloading the Microsoft Edge WebView2 Runtime installer...', nil);
end;

function InstallWebView2(): Boolean;
var
  ResultCode: Integer;
begin
  Result := False;
  DownloadPage.Clear;
  DownloadPage.Add(WebView2BootstrapperUrl, WebView2Bootstrapper, '');
  DownloadPage.Show;
  try
    try
      DownloadPage.Download;
      DownloadPage.SetText('Installing the Microsoft Edge WebView2 Runtime...', '');
      DownloadPage.ProgressBar.Style := npbstMarquee;
      if Exec(ExpandConstant('{tmp}\' + WebView2Bootstrapper), '/silent /install', '',
              SW_HIDE, ewWaitUntilTerminated, ResultCode) then
        Result := WebView2Installed()
      else
        Log(Format('WebView2 bootstrapper did not start: %s', [SysErrorMessage(ResultCode)]));
      if not Result then
        Log(Format('WebView2 bootstrapper exit code %d', [ResultCode]));
    except
      Log('WebView2 download failed: ' + GetExceptionMessage);
    end;
  finally
    DownloadPage.Hide;
  end;
end;

// Before anything is installed: find the runtime, else offer to fetch it. Declining (or a
// failed download) still installs the app, which then cannot open its window until the
// runtime is there; `miaoda-cli serve` works regardless.
function NextButtonClick(CurPageID: Integer): Boolean;
begin
  Result := True;
  if (CurPageID <> wpReady) or WebView2Installed() then
    exit;
  if SuppressibleMsgBox(
       '{#AppName} shows its window with the Microsoft Edge WebView2 Runtime, which is not ' +
       'installed on this computer.' + #13#10#13#10 +
       'Download and install it now from Microsoft (about 2 MB, then the runtime itself)?',
       mbConfirmation, MB_YESNO, IDYES) = IDNO then
    exit;
  if not InstallWebView2() then
    SuppressibleMsgBox(
      'The WebView2 Runtime could not be installed. {#AppName} will be installed anyway; ' +
      'install the runtime from https://developer.microsoft.com/microsoft-edge/webview2/ ' +
      'before you start it.', mbError, MB_OK, IDOK);
end;
#endif
