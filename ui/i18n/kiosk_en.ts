<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="en" sourcelanguage="zh_CN">
<context>
    <name>ActionBar</name>
    <message>
        <location filename="../qml/ActionBar.qml" line="31"/>
        <source>点我说话</source>
        <translation>Tap to talk</translation>
    </message>
    <message>
        <location filename="../qml/ActionBar.qml" line="38"/>
        <source>停止朗读</source>
        <translation>Stop speaking</translation>
    </message>
    <message>
        <location filename="../qml/ActionBar.qml" line="44"/>
        <source>常见服务</source>
        <translation>Services</translation>
    </message>
    <message>
        <location filename="../qml/ActionBar.qml" line="49"/>
        <source>打字提问</source>
        <translation>Type a question</translation>
    </message>
    <message>
        <location filename="../qml/ActionBar.qml" line="54"/>
        <source>结束</source>
        <translation>Finish</translation>
    </message>
    <message>
        <location filename="../qml/ActionBar.qml" line="60"/>
        <source>找工作人员</source>
        <translation>Find a staff member</translation>
    </message>
</context>
<context>
    <name>AttractScreen</name>
    <message>
        <location filename="../qml/AttractScreen.qml" line="43"/>
        <source>您好！我是%1</source>
        <translation>Hello! I am %1</translation>
    </message>
    <message>
        <location filename="../qml/AttractScreen.qml" line="51"/>
        <source>我是人工智能（AI），不是真人。</source>
        <translation>I am an AI, not a person.</translation>
    </message>
    <message>
        <location filename="../qml/AttractScreen.qml" line="52"/>
        <source>我是人工智能（AI），不是真人。办事的问题可以问我。</source>
        <translation>I am an AI, not a person. Ask me about community services.</translation>
    </message>
    <message>
        <location filename="../qml/AttractScreen.qml" line="61"/>
        <source>点这里开始，或直接说话</source>
        <translation>Tap here or just speak</translation>
    </message>
    <message>
        <location filename="../qml/AttractScreen.qml" line="61"/>
        <source>点这里开始</source>
        <translation>Tap here to start</translation>
    </message>
    <message>
        <location filename="../qml/AttractScreen.qml" line="98"/>
        <source>社区通知</source>
        <translation>Community notice</translation>
    </message>
    <message>
        <location filename="../qml/AttractScreen.qml" line="124"/>
        <source>时间：</source>
        <translation>Hours: </translation>
    </message>
    <message>
        <location filename="../qml/AttractScreen.qml" line="125"/>
        <source>地点：</source>
        <translation>Place: </translation>
    </message>
</context>
<context>
    <name>ConversationScreen</name>
    <message>
        <location filename="../qml/ConversationScreen.qml" line="12"/>
        <source>没有找到可靠的答案</source>
        <translation>No reliable answer found</translation>
    </message>
    <message>
        <location filename="../qml/ConversationScreen.qml" line="13"/>
        <source>请确认您要问的事</source>
        <translation>Please confirm what you mean</translation>
    </message>
    <message>
        <location filename="../qml/ConversationScreen.qml" line="14"/>
        <source>已转给工作人员</source>
        <translation>Passed to the staff</translation>
    </message>
    <message>
        <location filename="../qml/ConversationScreen.qml" line="29"/>
        <source>请说出您要办的事</source>
        <translation>Tell me what you need</translation>
    </message>
    <message>
        <location filename="../qml/ConversationScreen.qml" line="29"/>
        <source>请点选或输入您要办的事</source>
        <translation>Tap or type what you need</translation>
    </message>
    <message>
        <location filename="../qml/ConversationScreen.qml" line="35"/>
        <source>比如：“社保卡丢了怎么办”“老年卡在哪里办”</source>
        <translation>For example: “I lost my social security card” or “Where do I get a senior card?”</translation>
    </message>
    <message>
        <location filename="../qml/ConversationScreen.qml" line="88"/>
        <source>您问：</source>
        <translation>You asked: </translation>
    </message>
    <message>
        <location filename="../qml/ConversationScreen.qml" line="114"/>
        <source>正在查找……</source>
        <translation>Looking it up…</translation>
    </message>
    <message>
        <location filename="../qml/ConversationScreen.qml" line="120"/>
        <source>（已停止朗读）</source>
        <translation>(stopped speaking)</translation>
    </message>
    <message>
        <location filename="../qml/ConversationScreen.qml" line="135"/>
        <source>您是不是想问：</source>
        <translation>Did you mean:</translation>
    </message>
    <message>
        <location filename="../qml/ConversationScreen.qml" line="136"/>
        <source>还想了解：</source>
        <translation>Ask next:</translation>
    </message>
    <message>
        <location filename="../qml/ConversationScreen.qml" line="136"/>
        <source>您是想问：</source>
        <translation>Do you mean:</translation>
    </message>
</context>
<context>
    <name>EmergencyScreen</name>
    <message>
        <location filename="../qml/EmergencyScreen.qml" line="12"/>
        <source>报警</source>
        <translation>Police</translation>
    </message>
    <message>
        <location filename="../qml/EmergencyScreen.qml" line="13"/>
        <source>火警</source>
        <translation>Fire</translation>
    </message>
    <message>
        <location filename="../qml/EmergencyScreen.qml" line="14"/>
        <source>急救</source>
        <translation>Ambulance</translation>
    </message>
    <message>
        <location filename="../qml/EmergencyScreen.qml" line="15"/>
        <source>燃气抢修</source>
        <translation>Gas emergency</translation>
    </message>
    <message>
        <location filename="../qml/EmergencyScreen.qml" line="16"/>
        <source>物业</source>
        <translation>Property office</translation>
    </message>
    <message>
        <location filename="../qml/EmergencyScreen.qml" line="17"/>
        <source>社区值班</source>
        <translation>Duty phone</translation>
    </message>
    <message>
        <location filename="../qml/EmergencyScreen.qml" line="31"/>
        <source>紧急情况  请按下面做</source>
        <translation>EMERGENCY: do this now</translation>
    </message>
    <message>
        <location filename="../qml/EmergencyScreen.qml" line="31"/>
        <source>请确认：您现在有危险吗？</source>
        <translation>Please tell us: are you in danger now?</translation>
    </message>
    <message>
        <location filename="../qml/EmergencyScreen.qml" line="37"/>
        <source>您说：</source>
        <translation>You said: </translation>
    </message>
    <message>
        <location filename="../qml/EmergencyScreen.qml" line="46"/>
        <source>工作人员暂未收到通知，请直接拨打值班电话 %1</source>
        <translation>Staff have not been reached yet: please call the duty phone %1 yourself</translation>
    </message>
    <message>
        <location filename="../qml/EmergencyScreen.qml" line="159"/>
        <source>危险已经解除</source>
        <translation>The danger is over</translation>
    </message>
    <message>
        <location filename="../qml/EmergencyScreen.qml" line="166"/>
        <source>工作人员处理</source>
        <translation>Staff only</translation>
    </message>
    <message>
        <location filename="../qml/EmergencyScreen.qml" line="179"/>
        <source>确定已经安全了吗？</source>
        <translation>Are you sure it is safe now?</translation>
    </message>
    <message>
        <location filename="../qml/EmergencyScreen.qml" line="183"/>
        <source>是，已经安全</source>
        <translation>Yes, it is safe now</translation>
    </message>
    <message>
        <location filename="../qml/EmergencyScreen.qml" line="189"/>
        <source>不，还需要帮助</source>
        <translation>No, I still need help</translation>
    </message>
</context>
<context>
    <name>HandoffScreen</name>
    <message>
        <location filename="../qml/HandoffScreen.qml" line="23"/>
        <source>请工作人员来帮您</source>
        <translation>A staff member will help you</translation>
    </message>
    <message>
        <location filename="../qml/HandoffScreen.qml" line="41"/>
        <source>接下来：</source>
        <translation>What happens next:</translation>
    </message>
    <message>
        <location filename="../qml/HandoffScreen.qml" line="42"/>
        <source>1. 您的问题已经记录，工作人员会看到。</source>
        <translation>1. Your request has been recorded; the staff will see it.</translation>
    </message>
    <message>
        <location filename="../qml/HandoffScreen.qml" line="43"/>
        <source>2. 请到服务台找工作人员：%1</source>
        <translation>2. Please see the staff at the service desk: %1</translation>
    </message>
    <message>
        <location filename="../qml/HandoffScreen.qml" line="44"/>
        <source>3. 也可以打社区值班电话：</source>
        <translation>3. Or call the community duty phone:</translation>
    </message>
    <message>
        <location filename="../qml/HandoffScreen.qml" line="53"/>
        <source>办公时间：%1</source>
        <translation>Office hours: %1</translation>
    </message>
    <message>
        <location filename="../qml/HandoffScreen.qml" line="58"/>
        <source>返回继续提问</source>
        <translation>Back to my questions</translation>
    </message>
</context>
<context>
    <name>Keyboard</name>
    <message>
        <location filename="../qml/Keyboard.qml" line="88"/>
        <source>删除</source>
        <translation>Delete</translation>
    </message>
    <message>
        <location filename="../qml/Keyboard.qml" line="98"/>
        <source>空格</source>
        <translation>Space</translation>
    </message>
</context>
<context>
    <name>Main</name>
    <message>
        <location filename="../qml/Main.qml" line="14"/>
        <source>社区服务助手</source>
        <translation>Community service assistant</translation>
    </message>
    <message>
        <location filename="../qml/Main.qml" line="71"/>
        <source>语音暂不可用：请点屏幕或打字提问，内容都会显示在屏幕上。</source>
        <translation>Voice is not available: tap or type your question; everything is shown on the screen.</translation>
    </message>
    <message>
        <location filename="../qml/Main.qml" line="89"/>
        <source>本机还没有办事指南，暂时答不了办事问题。遇到紧急情况请直接告诉我；需要帮忙请找工作人员。</source>
        <translation>This kiosk has no service guides yet, so it cannot answer questions about services. In an emergency, tell me at once; for help, please find a staff member.</translation>
    </message>
</context>
<context>
    <name>PinScreen</name>
    <message>
        <location filename="../qml/PinScreen.qml" line="12"/>
        <source>还没有设置管理密码：请在设备上运行 kiosk staff set-pin</source>
        <translation>No staff PIN is set: run kiosk staff set-pin on the device</translation>
    </message>
    <message>
        <location filename="../qml/PinScreen.qml" line="13"/>
        <source>正在核对……</source>
        <translation>Checking…</translation>
    </message>
    <message>
        <location filename="../qml/PinScreen.qml" line="15"/>
        <source>输错次数太多，已锁定，请 %1 小时后再试</source>
        <translation>Too many wrong PINs: locked, try again in %1 hours</translation>
    </message>
    <message>
        <location filename="../qml/PinScreen.qml" line="16"/>
        <source>输错次数太多，已锁定，请 %1 分钟后再试</source>
        <translation>Too many wrong PINs: locked, try again in %1 min</translation>
    </message>
    <message>
        <location filename="../qml/PinScreen.qml" line="17"/>
        <source>密码不对，还可以试 %1 次</source>
        <translation>Wrong PIN, %1 tries left</translation>
    </message>
    <message>
        <location filename="../qml/PinScreen.qml" line="18"/>
        <source>请输入工作人员密码</source>
        <translation>Enter the staff PIN</translation>
    </message>
    <message>
        <location filename="../qml/PinScreen.qml" line="61"/>
        <source>清除</source>
        <translation>Clear</translation>
    </message>
    <message>
        <location filename="../qml/PinScreen.qml" line="61"/>
        <source>确定</source>
        <translation>OK</translation>
    </message>
    <message>
        <location filename="../qml/PinScreen.qml" line="74"/>
        <source>返回</source>
        <translation>Back</translation>
    </message>
</context>
<context>
    <name>SourceCard</name>
    <message>
        <location filename="../qml/SourceCard.qml" line="34"/>
        <source>所需材料（带齐的可以点一下打勾）</source>
        <translation>What to bring (tap to tick off)</translation>
    </message>
    <message>
        <location filename="../qml/SourceCard.qml" line="77"/>
        <source>地点：</source>
        <translation>Place: </translation>
    </message>
    <message>
        <location filename="../qml/SourceCard.qml" line="83"/>
        <source>时间：</source>
        <translation>Hours: </translation>
    </message>
    <message>
        <location filename="../qml/SourceCard.qml" line="89"/>
        <source>电话：</source>
        <translation>Phone: </translation>
    </message>
</context>
<context>
    <name>StaffScreen</name>
    <message>
        <location filename="../qml/StaffScreen.qml" line="20"/>
        <source>知识库</source>
        <translation>Knowledge base</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="21"/>
        <source>语音</source>
        <translation>Voice</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="22"/>
        <source>机器人</source>
        <translation>Robot</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="23"/>
        <source>网络</source>
        <translation>Network</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="24"/>
        <source>员工通知</source>
        <translation>Staff messages</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="25"/>
        <source>知识库同步</source>
        <translation>Knowledge-base sync</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="41"/>
        <source>工作人员模式</source>
        <translation>Staff mode</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="46"/>
        <source>解除紧急画面</source>
        <translation>Close the emergency screen</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="52"/>
        <source>退出</source>
        <translation>Exit</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="62"/>
        <source>转人工</source>
        <translation>Handoffs</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="63"/>
        <source>紧急求助</source>
        <translation>Emergencies</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="64"/>
        <source>没答上的问题</source>
        <translation>Unanswered</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="65"/>
        <source>讲解</source>
        <translation>Guided tours</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="66"/>
        <source>设备状态</source>
        <translation>Device health</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="67"/>
        <source>设置</source>
        <translation>Settings</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="106"/>
        <source>最接近：</source>
        <translation>Closest: </translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="112"/>
        <source>已处理</source>
        <translation>Done</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="122"/>
        <source>暂无记录</source>
        <translation>Nothing recorded</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="148"/>
        <source>（%1 步）</source>
        <translation> (%1 steps)</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="152"/>
        <source>开始讲解</source>
        <translation>Start</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="184"/>
        <source>音量</source>
        <translation>Volume</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="206"/>
        <source>语言</source>
        <translation>Language</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="220"/>
        <source>字号 %1%</source>
        <translation>Text size %1%</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="222"/>
        <source>换字号</source>
        <translation>Change size</translation>
    </message>
    <message>
        <location filename="../qml/StaffScreen.qml" line="230"/>
        <source>机器人急停复位（先松开急停按钮）</source>
        <translation>Reset the robot&apos;s e-stop (release the button first)</translation>
    </message>
</context>
<context>
    <name>StatusStrip</name>
    <message>
        <location filename="../qml/StatusStrip.qml" line="14"/>
        <source>正在听</source>
        <translation>Listening</translation>
    </message>
    <message>
        <location filename="../qml/StatusStrip.qml" line="15"/>
        <source>正在想</source>
        <translation>Thinking</translation>
    </message>
    <message>
        <location filename="../qml/StatusStrip.qml" line="16"/>
        <source>正在说</source>
        <translation>Speaking</translation>
    </message>
    <message>
        <location filename="../qml/StatusStrip.qml" line="17"/>
        <source>请点屏幕提问</source>
        <translation>Tap the screen to ask</translation>
    </message>
    <message>
        <location filename="../qml/StatusStrip.qml" line="20"/>
        <source>机器人：正常</source>
        <translation>Robot: OK</translation>
    </message>
    <message>
        <location filename="../qml/StatusStrip.qml" line="21"/>
        <source>机器人：未连接</source>
        <translation>Robot: not connected</translation>
    </message>
    <message>
        <location filename="../qml/StatusStrip.qml" line="22"/>
        <source>机器人：急停</source>
        <translation>Robot: e-stop</translation>
    </message>
    <message>
        <location filename="../qml/StatusStrip.qml" line="68"/>
        <source>在线</source>
        <translation>Online</translation>
    </message>
    <message>
        <location filename="../qml/StatusStrip.qml" line="68"/>
        <source>离线</source>
        <translation>Offline</translation>
    </message>
    <message>
        <location filename="../qml/StatusStrip.qml" line="75"/>
        <source>紧急通知未送达</source>
        <translation>Alert not delivered</translation>
    </message>
    <message>
        <location filename="../qml/StatusStrip.qml" line="93"/>
        <source>示例</source>
        <translation>Demo</translation>
    </message>
    <message>
        <location filename="../qml/StatusStrip.qml" line="102"/>
        <source>知识库 v%1</source>
        <translation>Knowledge v%1</translation>
    </message>
    <message>
        <location filename="../qml/StatusStrip.qml" line="102"/>
        <source>无办事指南</source>
        <translation>No guides</translation>
    </message>
    <message>
        <location filename="../qml/StatusStrip.qml" line="116"/>
        <source>字号</source>
        <translation>Text size</translation>
    </message>
</context>
<context>
    <name>StillThere</name>
    <message>
        <location filename="../qml/StillThere.qml" line="23"/>
        <source>您还在看吗？</source>
        <translation>Are you still reading?</translation>
    </message>
    <message>
        <location filename="../qml/StillThere.qml" line="28"/>
        <source>如果没有操作，屏幕稍后会回到首页。</source>
        <translation>If nobody touches the screen, it will go back to the start soon.</translation>
    </message>
    <message>
        <location filename="../qml/StillThere.qml" line="33"/>
        <source>我还在看</source>
        <translation>I&apos;m still here</translation>
    </message>
</context>
<context>
    <name>TopicsScreen</name>
    <message>
        <location filename="../qml/TopicsScreen.qml" line="15"/>
        <source>常见服务：点一下就能看办理方法</source>
        <translation>Common services: tap one to see how</translation>
    </message>
</context>
<context>
    <name>TourScreen</name>
    <message>
        <location filename="../qml/TourScreen.qml" line="30"/>
        <source>第 %1 / %2 步</source>
        <translation>Step %1 of %2</translation>
    </message>
    <message>
        <location filename="../qml/TourScreen.qml" line="110"/>
        <source>我要提问</source>
        <translation>Ask a question</translation>
    </message>
    <message>
        <location filename="../qml/TourScreen.qml" line="116"/>
        <source>继续</source>
        <translation>Continue</translation>
    </message>
    <message>
        <location filename="../qml/TourScreen.qml" line="116"/>
        <source>暂停</source>
        <translation>Pause</translation>
    </message>
    <message>
        <location filename="../qml/TourScreen.qml" line="119"/>
        <source>再讲一遍</source>
        <translation>Say it again</translation>
    </message>
    <message>
        <location filename="../qml/TourScreen.qml" line="120"/>
        <source>下一步</source>
        <translation>Next step</translation>
    </message>
    <message>
        <location filename="../qml/TourScreen.qml" line="123"/>
        <source>结束讲解</source>
        <translation>End the tour</translation>
    </message>
    <message>
        <location filename="../qml/TourScreen.qml" line="143"/>
        <source>您问：</source>
        <translation>You asked: </translation>
    </message>
    <message>
        <location filename="../qml/TourScreen.qml" line="157"/>
        <source>正在查找……</source>
        <translation>Looking it up…</translation>
    </message>
    <message>
        <location filename="../qml/TourScreen.qml" line="162"/>
        <source>继续讲解</source>
        <translation>Continue the tour</translation>
    </message>
</context>
<context>
    <name>TypingScreen</name>
    <message>
        <location filename="../qml/TypingScreen.qml" line="24"/>
        <source>请输入您的问题（拼音输入，可打首字母，如 sbk = 社保卡）</source>
        <translation>Type your question (English, or Chinese by pinyin: sbk = 社保卡)</translation>
    </message>
    <message>
        <location filename="../qml/TypingScreen.qml" line="36"/>
        <source>在这里输入</source>
        <translation>Type here</translation>
    </message>
    <message>
        <location filename="../qml/TypingScreen.qml" line="36"/>
        <source>在这里输入（拼音，可打首字母）</source>
        <translation>Type here (English, or Chinese in pinyin)</translation>
    </message>
    <message>
        <location filename="../qml/TypingScreen.qml" line="45"/>
        <source>提问</source>
        <translation>Ask</translation>
    </message>
</context>
</TS>
